/**
 * Supervisor: a supervising model delegates tasks to sub-agents, reads what they return and
 * decides when the work is done. Each delegated task runs as a child workflow (`batonSubAgent`),
 * so a sub-agent's model and tool calls fill its own history, not the supervisor's, and show in
 * Temporal as children of the run.
 */
import { ChildWorkflowFailure, executeChild, workflowInfo, ApplicationFailure } from '@temporalio/workflow';
import { array, enumOf, object, string, type Infer } from './shape';
import type { Budget } from '../../types';
import { acquireAllowance, moneyOf, shareOf, worstCaseOf, type Money } from '../ledger';
import { SEARCH_ATTRIBUTES, type RunProgress, type RunResult } from '../api';
import { describeError, type StepErrorInfo } from '../errors';
import { runAgent } from './agent';
import {
  callAgent,
  callStructured,
  invalidSpec,
  messagesFor,
  runPattern,
  scopeOf,
  stepKey,
  tracked,
  type Agent,
  type AgentContext,
  type RunContextOptions,
} from './context';

/** The workflow type of a sub-agent; the worker registers it (src/workflows/index.ts exports it). */
export const SUB_AGENT_WORKFLOW = 'batonSubAgent';

/** Input of one sub-agent run. */
export interface SubAgentInput {
  agent: Agent;
  task: string;
  options?: RunContextOptions['options'];
  /** What is left of the parent's budget. */
  budget?: Budget;
}

/**
 * One sub-agent doing one task, as its own workflow (with its own progress query): a single
 * model call, or a ReAct loop when the agent has tools. Fails like any pattern run, with its
 * progress in the failure's details.
 */
export async function batonSubAgent(
  input: SubAgentInput,
): Promise<RunResult & { result: { output: string } }> {
  const opts: RunContextOptions = {
    ...(input.budget && { budget: input.budget }),
    ...(input.options && { options: input.options }),
  };
  return runPattern(input.agent.name, opts, async (ctx) => ({
    // A long ReAct sub-agent hands its turns to a child workflow once its history is long (react-child.ts).
    output: await runAgent(ctx, input.agent, input.task, { handOff: true }),
  }));
}

/** The supervisor's decision for these sub-agent names. */
export function decisionSchema(agents: string[]) {
  return object({
    action: enumOf(['delegate', 'finish'] as const).describe(
      "'delegate' to hand out tasks, 'finish' when the task is done",
    ),
    delegations: array(
      object({
        agent: enumOf(agents).describe('the sub-agent'),
        task: string().describe('what it should do, self-contained: it sees nothing else'),
      }),
    ).describe('with delegate: one or more tasks, run at the same time'),
    answer: string().describe('with finish: the final answer to the task'),
  });
}
export type Decision = Infer<ReturnType<typeof decisionSchema>>;

/** One delegated task and what came of it. */
export interface Delegation {
  agent: string;
  task: string;
  status: 'completed' | 'failed';
  output?: string;
  error?: StepErrorInfo;
  /** The child workflow's id. */
  workflowId: string;
}

export interface SupervisorRound {
  round: number;
  action: 'delegate' | 'finish' | 'invalid';
  delegations: Delegation[];
  /** Why the decision could not be used (action `invalid`). */
  error?: string;
}

export interface SupervisorResult {
  output: string;
  rounds: SupervisorRound[];
  /** `finish`: the supervisor finished; `max-rounds`: it was asked for the answer after the last round. */
  stoppedBy: 'finish' | 'max-rounds';
}

export interface SupervisorSpec {
  /**
   * Decides each round. Its prompt may use `{{input}}`, `{{agents}}` (a `- name: description`
   * list), `{{history}}` (every round so far), `{{round}}`, `{{maxRounds}}`.
   */
  supervisor: Agent;
  /** Sub-agents to delegate to; give each a `description` the supervisor can choose by. */
  agents: Agent[];
  /** Delegation rounds at most (default 5); then the supervisor is asked for its answer. */
  maxRounds?: number;
  /** Task queue of the sub-agent workflows (default: the supervisor's). */
  taskQueue?: string;
}

export const DEFAULT_SUPERVISOR_PROMPT = [
  'You supervise a team. Task:',
  '{{input}}',
  '',
  'Your team (each runs only the task you give it, and sees nothing else):',
  '{{agents}}',
  '',
  'Work so far:',
  '{{history}}',
  '',
  'This is round {{round}} of at most {{maxRounds}}. Decide: delegate one or more tasks (they run at the same time), ' +
    'or finish with the final answer once the work so far is enough.',
].join('\n');

/** The rounds so far, as the supervisor reads them. */
export function historyText(rounds: readonly SupervisorRound[]): string {
  if (rounds.length === 0) return '(nothing yet)';
  return rounds
    .map((r) => {
      if (r.action === 'invalid') return `Round ${r.round}: your decision could not be used: ${r.error}`;
      const items = r.delegations.map((d) =>
        d.status === 'completed'
          ? `- ${d.agent} was asked: ${d.task}\n  It answered: ${d.output}`
          : `- ${d.agent} was asked: ${d.task}\n  It failed: ${d.error?.message}`,
      );
      return [`Round ${r.round}:`, ...items].join('\n');
    })
    .join('\n\n');
}

async function delegate(
  ctx: AgentContext,
  spec: SupervisorSpec,
  agent: Agent,
  task: string,
  round: number,
  index: number,
  share: Money,
): Promise<Delegation> {
  const key = stepKey(ctx, `${agent.name}#${round}.${index + 1}`);
  const workflowId = `${workflowInfo().workflowId}/${agent.name}-${round}.${index + 1}`;
  // Delegating spends: the child gets an allowance from this run's ledger (waiting at the budget
  // gate when even its first call does not fit) and gives back what it did not spend.
  const need = worstCaseOf({ profile: agent.profile, messages: messagesFor(agent, scopeOf(task)) });
  const allowance = await acquireAllowance(ctx.state, key, need, share);
  const budget = allowance.budget;
  const ensemble = workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.ensemble);
  const input: SubAgentInput = {
    agent,
    task,
    ...(ctx.options && { options: ctx.options }),
    ...(budget && { budget }),
  };
  ctx.state.start(key);
  try {
    const res = await executeChild<typeof batonSubAgent>(SUB_AGENT_WORKFLOW, {
      workflowId,
      args: [input],
      ...(spec.taskQueue && { taskQueue: spec.taskQueue }),
      staticSummary: `${agent.name}: ${task.slice(0, 120)}`,
      // Like its parent, a sub-agent marks its waiting tool gates for listing only where Baton's search attributes exist.
      ...(ensemble !== undefined && {
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.ensemble, value: ensemble }],
      }),
    });
    ctx.state.ledger.settle(allowance.reservation, res.budget?.spent ?? moneyOf(res.usage, res.costUsd));
    ctx.state.recordChild(key, res);
    ctx.state.recordRole(
      agent.name,
      res,
      res.steps.reduce((n, s) => n + s.calls, 0),
    );
    ctx.state.complete(key, res.output);
    return { agent: agent.name, task, status: 'completed', output: res.output, workflowId };
  } catch (err) {
    // A failed child reports what it spent in its failure's details: count it all the same.
    const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const progress =
      cause instanceof ApplicationFailure ? (cause.details?.[0] as RunProgress | undefined) : undefined;
    // What the child spent, from its ledger; unknown (no progress came back): all of its allowance.
    ctx.state.ledger.settle(
      allowance.reservation,
      progress?.steps
        ? (progress.budget?.spent ?? moneyOf(progress.usage, progress.costUsd))
        : allowance.amount,
    );
    if (progress?.steps) {
      ctx.state.recordChild(key, progress);
      ctx.state.recordRole(
        agent.name,
        progress,
        progress.steps.reduce((n, s) => n + s.calls, 0),
      );
    }
    if (!(err instanceof ChildWorkflowFailure)) throw err;
    // The child's own error (ModelBadRequest, ...) says more than its run-level StepFailed.
    const error: StepErrorInfo = progress?.error
      ? { type: progress.error.type, message: progress.error.message }
      : describeError(err);
    ctx.state.fail(key, error);
    return { agent: agent.name, task, status: 'failed', error, workflowId };
  }
}

/**
 * Run the supervisor loop. The supervisor's calls show in progress as `name#1`, `name#2`...;
 * each delegation as `agent#round.n` (its usage counted from the child's result, under the
 * role named after the sub-agent). A sub-agent that fails is reported to the supervisor, which
 * decides what to do next; the run does not fail for it.
 *
 * @example
 * const res = await supervisor(ctx, {
 *   supervisor: { name: 'lead', profile },
 *   agents: [
 *     { name: 'researcher', profile, description: 'finds facts', tools: ['search'] },
 *     { name: 'writer', profile, description: 'writes prose from notes' },
 *   ],
 *   maxRounds: 4,
 * }, 'Write a short brief on the population of France');
 */
export async function supervisor(
  ctx: AgentContext,
  spec: SupervisorSpec,
  input: string,
): Promise<SupervisorResult> {
  const names = spec.agents.map((a) => a.name);
  if (names.length === 0) throw invalidSpec('supervisor: give at least one sub-agent');
  if (new Set(names).size !== names.length) throw invalidSpec('supervisor: sub-agents need distinct names');
  const maxRounds = Math.max(1, spec.maxRounds ?? 5);
  const agentList = spec.agents.map((a) => `- ${a.name}: ${a.description ?? 'no description'}`).join('\n');
  const schema = decisionSchema(names);
  const rounds: SupervisorRound[] = [];

  for (let round = 1; round <= maxRounds; round++) {
    const key = stepKey(ctx, `${spec.supervisor.name}#${round}`);
    const vars = {
      agents: agentList,
      history: historyText(rounds),
      round: String(round),
      maxRounds: String(maxRounds),
    };
    let decision: Decision | undefined;
    let error = '';
    await tracked(ctx, key, async () => {
      const { res, parsed } = await callStructured(ctx, spec.supervisor, scopeOf(input, vars), schema, {
        key,
        role: 'supervisor',
        formatName: 'decision',
        defaultPrompt: DEFAULT_SUPERVISOR_PROMPT,
      });
      if (parsed.ok) decision = parsed.value;
      else error = parsed.error;
      return res.text;
    });

    if (decision?.action === 'finish') {
      rounds.push({ round, action: 'finish', delegations: [] });
      return { output: decision.answer, rounds, stoppedBy: 'finish' };
    }
    const wanted = (decision?.delegations ?? []).filter((d) => names.includes(d.agent));
    if (!decision || wanted.length === 0) {
      rounds.push({
        round,
        action: 'invalid',
        delegations: [],
        error: error || 'delegate named no known sub-agent',
      });
      continue;
    }
    // Delegations of one round run at once, each a child workflow with an equal part of what is left.
    const share = shareOf(ctx.state.ledger, wanted.length);
    const delegations = await Promise.all(
      wanted.map((d, i) =>
        delegate(
          ctx,
          spec,
          spec.agents.find((a) => a.name === d.agent)!,
          d.task,
          round,
          i,
          share,
        ),
      ),
    );
    rounds.push({ round, action: 'delegate', delegations });
  }

  // Out of rounds: one last call, for the answer from the work so far.
  const key = stepKey(ctx, `${spec.supervisor.name}#final`);
  const output = await tracked(ctx, key, async () => {
    const vars = {
      agents: agentList,
      history: historyText(rounds),
      round: String(maxRounds),
      maxRounds: String(maxRounds),
    };
    const res = await callAgent(ctx, { ...spec.supervisor, prompt: FINAL_PROMPT }, scopeOf(input, vars), {
      key,
      role: 'supervisor',
    });
    return res.text;
  });
  return { output, rounds, stoppedBy: 'max-rounds' };
}

const FINAL_PROMPT = [
  'Task:',
  '{{input}}',
  '',
  'Work your team did:',
  '{{history}}',
  '',
  'No rounds are left. Write the final answer to the task now, from the work so far. Reply with the answer only.',
].join('\n');
