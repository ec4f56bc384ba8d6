/**
 * Agent patterns as workflow code: call them from any workflow of yours (register it with
 * `createWorker({ workflowsPath })`, re-exporting Baton's workflows). Every model call and every
 * tool call inside them is an activity, so a run survives crashes without repeating work.
 *
 * @example
 * import { runPattern, evaluatorOptimizer } from 'baton/workflows/patterns';
 * export async function haiku(topic: string) {
 *   return runPattern('haiku', {}, (ctx) =>
 *     evaluatorOptimizer(ctx, { generator: { name: 'poet', profile }, evaluator: { name: 'critic', profile } }, topic),
 *   );
 * }
 */
export {
  createRunContext,
  invalidSpec,
  runPattern,
  nested,
  stepKey,
  scopeOf,
  tracked,
  callAgent,
  callStructured,
  callWithOutputSchema,
  parseJsonReply,
  parseStructured,
  responseFormatOf,
  type Agent,
  type AgentContext,
  type CallOptions,
  type Parsed,
  type PatternRunResult,
  type RunContextOptions,
} from './context';
export { runAgent, type RunAgentOptions } from './agent';
export { withRepairs, type ReplyCheck } from '../step';
export { STRUCTURED_OUTPUT_ERROR } from '../../error-types';
export { chain, type ChainOptions, type ChainResult, type ChainStep } from './chain';
export {
  parallel,
  runDag,
  fanOut,
  mapAgent,
  branchesText,
  type BranchOutcome,
  type BranchResult,
  type FanOutOptions,
  type FanOutResult,
  type GraphNode,
} from './parallel';
export {
  evaluatorOptimizer,
  parseVerdict,
  passes,
  verdictSchema,
  DEFAULT_EVALUATE_PROMPT,
  DEFAULT_REVISE_PROMPT,
  type EvaluationRound,
  type EvaluatorOptimizerResult,
  type EvaluatorOptimizerSpec,
  type Verdict,
} from './evaluator-optimizer';
export {
  route,
  routeSchema,
  matchRoute,
  OTHER_ROUTE,
  DEFAULT_CLASSIFY_PROMPT,
  type Route,
  type RouteResult,
  type RouterSpec,
} from './router';
export {
  reactAgent,
  reactLoop,
  runToolAgent,
  DEFAULT_MAX_ITERATIONS,
  MAX_ITERATIONS_EXCEEDED,
  type ReactOptions,
  type ReactResult,
} from './react-agent';
export {
  loadTools,
  executeToolCall,
  toolRefs,
  TOOL_OUTCOME_UNKNOWN,
  type ToolCallRecord,
  type ToolSet,
} from './tools';
export {
  planAndExecute,
  parsePlan,
  parsePlanText,
  validatePlan,
  planSchema,
  planText,
  evidenceRefs,
  substituteEvidence,
  toolArguments,
  DEFAULT_PLANNER_PROMPT,
  DEFAULT_SOLVER_PROMPT,
  INVALID_PLAN,
  REWOO_PLAN_FORMAT,
  type PlanExecuteResult,
  type PlanExecuteSpec,
  type PlanStep,
  type RawPlanStep,
} from './plan-execute';
/** A long ReAct step's or sub-agent's turns, once its history is long (register it beside batonSubAgent). */
export { batonReactStep } from '../react-child';
export {
  supervisor,
  batonSubAgent,
  decisionSchema,
  historyText,
  SUB_AGENT_WORKFLOW,
  DEFAULT_SUPERVISOR_PROMPT,
  type Decision,
  type Delegation,
  type SubAgentInput,
  type SupervisorResult,
  type SupervisorRound,
  type SupervisorSpec,
} from './supervisor';
