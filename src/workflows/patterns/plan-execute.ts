/**
 * Plan-and-execute, ReWOO style (Reasoning WithOut Observation): a planner writes the whole plan
 * up front, each step naming a worker (a tool or an agent) and an input that may cite earlier
 * evidence as #E1, #E2...; the steps run as a dependency graph (steps whose evidence is in run
 * at once); a solver writes the answer from the plan and the evidence. The planner sees no tool
 * output, so the prompt is not re-sent after every tool call as in ReAct: that is where the
 * tokens are saved. Usage is reported per role: planner, worker, solver.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import { DEFAULT_OUTPUT_REPAIRS } from '../../structured-output';
import { STRUCTURED_REPAIR_PATCH, withRepairs } from '../step';
import { array, enumOf, object, string } from './shape';
import type { ChatMessage, ToolRef, ToolSpec } from '../../types';
import type { RoleUsage } from '../api';
import { runAgent } from './agent';
import {
  callAgent,
  invalidSpec,
  messagesFor,
  parseJsonReply,
  responseFormatOf,
  scopeOf,
  stepKey,
  tracked,
  type Agent,
  type AgentContext,
  type Parsed,
} from './context';
import { runDag } from './parallel';
import { executeToolCall, loadTools } from './tools';

/** Name of the planner's structured output (the offline provider answers it with a small valid plan). */
export const REWOO_PLAN_FORMAT = 'rewoo_plan';
/**
 * Failure type when the planner wrote no plan that can run, after every attempt, in runs recorded
 * before plans were repaired like every structured reply (those now fail with StructuredOutputError).
 */
export const INVALID_PLAN = 'InvalidPlan';
/** The roles whose usage a ReWOO run reports. */
export const REWOO_ROLES = ['planner', 'worker', 'solver'] as const;

/** One step of a plan, checked: `dependsOn` lists the evidence its input cites. */
export interface PlanStep {
  /** `E1`, `E2`...: the evidence this step produces. */
  id: string;
  description: string;
  /** The worker: a tool name or an agent name. */
  tool: string;
  /** As the planner wrote it, with #E references. */
  input: string;
  dependsOn: string[];
}

/** A plan step as the planner writes it. */
export interface RawPlanStep {
  id: string;
  description?: string;
  tool: string;
  input: string;
}

/** The planner's structured output for these worker names. */
export function planSchema(workers: string[]) {
  return object({
    steps: array(
      object({
        id: string().describe('E1 for the first step, E2 for the second, and so on'),
        description: string().describe('what this step finds out, in one sentence'),
        tool: enumOf(workers).describe('the worker that runs this step'),
        input: string().describe("the worker's input; write #E1, #E2... where earlier evidence goes"),
      }),
      1,
    ),
  });
}

const REF = /#E(\d+)/g;

/** Evidence ids an input cites, in order of first appearance: `'#E2 and #E1'` gives `['E2', 'E1']`. */
export function evidenceRefs(text: string): string[] {
  const ids: string[] = [];
  for (const m of text.matchAll(REF)) if (!ids.includes(`E${m[1]}`)) ids.push(`E${m[1]}`);
  return ids;
}

/** Put evidence in place of its #E references; a reference without evidence stays as written. */
export function substituteEvidence(
  text: string,
  evidence: ReadonlyMap<string, string> | Record<string, string>,
): string {
  const get = (id: string) =>
    evidence instanceof Map ? evidence.get(id) : (evidence as Record<string, string>)[id];
  return text.replace(REF, (whole, n: string) => get(`E${n}`) ?? whole);
}

/**
 * Check a plan: ids `E1`, `E2`... (a leading `#` and lower case forgiven), unique; every worker
 * known (case forgiven); every #E reference to an earlier step; at most `maxSteps` steps.
 */
export function validatePlan(
  steps: RawPlanStep[],
  workers: readonly string[],
  maxSteps = Infinity,
): Parsed<PlanStep[]> {
  if (steps.length === 0) return { ok: false, error: 'the plan has no steps' };
  if (steps.length > maxSteps)
    return { ok: false, error: `the plan has ${steps.length} steps; at most ${maxSteps} are allowed` };
  const seen: string[] = [];
  const out: PlanStep[] = [];
  for (const [i, s] of steps.entries()) {
    const id = String(s.id ?? '')
      .trim()
      .replace(/^#/, '')
      .toUpperCase();
    if (!/^E\d+$/.test(id))
      return { ok: false, error: `step ${i + 1} has id '${s.id}'; ids are E1, E2, ...` };
    if (seen.includes(id)) return { ok: false, error: `two steps have id ${id}` };
    const tool = workers.find(
      (w) =>
        w.toLowerCase() ===
        String(s.tool ?? '')
          .trim()
          .toLowerCase(),
    );
    if (!tool)
      return {
        ok: false,
        error: `step ${id} uses '${s.tool}', which is not a worker (workers: ${workers.join(', ')})`,
      };
    const input = String(s.input ?? '');
    const refs = evidenceRefs(input);
    const late = refs.find((r) => !seen.includes(r));
    if (late)
      return { ok: false, error: `step ${id} cites #${late}, which is not an earlier step's evidence` };
    seen.push(id);
    out.push({ id, description: String(s.description ?? ''), tool, input, dependsOn: refs });
  }
  return { ok: true, value: out };
}

/**
 * Read a classic ReWOO text plan: lines such as `Plan: look it up. #E1 = search[population of France]`
 * (the description may also stand on the line before). Undefined when there is no such line.
 */
export function parsePlanText(text: string): RawPlanStep[] | undefined {
  const steps: RawPlanStep[] = [];
  let description = '';
  for (const line of text.split('\n')) {
    const m = /#(E\d+)\s*=\s*([A-Za-z0-9_-]+)\s*\[(.*)\]\s*$/.exec(line);
    const before = (m ? line.slice(0, m.index) : line)
      .replace(/^\s*(?:[-*]\s*)?Plan\s*\d*\s*:\s*/i, '')
      .trim();
    if (!m) {
      if (/^\s*(?:[-*]\s*)?Plan\s*\d*\s*:/i.test(line)) description = before;
      continue;
    }
    steps.push({ id: m[1]!, description: before || description, tool: m[2]!, input: m[3]!.trim() });
    description = '';
  }
  return steps.length ? steps : undefined;
}

/** Read and check a planner's reply: structured JSON (`{ steps: [...] }`), or the classic text format. */
export function parsePlan(text: string, workers: readonly string[], maxSteps = Infinity): Parsed<PlanStep[]> {
  const json = parseJsonReply(text) as { steps?: unknown } | undefined;
  let raw: RawPlanStep[] | undefined;
  if (json && typeof json === 'object' && Array.isArray(json.steps)) raw = json.steps as RawPlanStep[];
  else raw = parsePlanText(text);
  if (!raw)
    return {
      ok: false,
      error: 'the reply holds no plan: expected JSON {"steps": [{"id", "description", "tool", "input"}]}',
    };
  return validatePlan(raw, workers, maxSteps);
}

/**
 * A tool's arguments from a plan step's input: a JSON object input is used as is (evidence put
 * into its strings); a text input goes into the tool's one required (or only, or first string)
 * argument. The tool's schema check, in the activity, has the last word.
 */
export function toolArguments(
  spec: ToolSpec | undefined,
  input: string,
  evidence: ReadonlyMap<string, string>,
): Record<string, unknown> {
  const raw = input.trim();
  if (raw.startsWith('{')) {
    try {
      const obj: unknown = JSON.parse(raw);
      if (obj && typeof obj === 'object' && !Array.isArray(obj))
        return deepSubstitute(obj, evidence) as Record<string, unknown>;
    } catch {
      // not JSON: treat it as text
    }
  }
  const text = substituteEvidence(input, evidence);
  const params = (spec?.parameters ?? {}) as {
    properties?: Record<string, { type?: unknown }>;
    required?: string[];
  };
  const props = Object.keys(params.properties ?? {});
  const required = params.required ?? [];
  const target =
    required.length === 1
      ? required[0]
      : props.length === 1
        ? props[0]
        : props.find((p) => params.properties![p]!.type === 'string');
  return { [target ?? 'input']: text };
}

function deepSubstitute(value: unknown, evidence: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return substituteEvidence(value, evidence);
  if (Array.isArray(value)) return value.map((v) => deepSubstitute(v, evidence));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepSubstitute(v, evidence)]));
  }
  return value;
}

/** The plan with its evidence, as the solver reads it. */
export function planText(plan: readonly PlanStep[], evidence?: ReadonlyMap<string, string>): string {
  return plan
    .map((s) => {
      const lines = [`Plan: ${s.description}`, `#${s.id} = ${s.tool}[${s.input}]`];
      if (evidence) lines.push(`Evidence: ${evidence.get(s.id) ?? '(none)'}`);
      return lines.join('\n');
    })
    .join('\n\n');
}

export const DEFAULT_PLANNER_PROMPT = [
  '{{input}}',
  '',
  'Make a plan to solve the task above. Each step uses one worker and stores its result as evidence: the first ' +
    "step's as #E1, the next as #E2, and so on. A step's input may use earlier evidence by writing #E1, #E2... where " +
    "the value should go. Steps that do not need each other's evidence run at the same time, so cite only the " +
    'evidence a step truly needs. Use at most {{maxSteps}} steps.',
  '',
  'Workers:',
  '{{workers}}',
].join('\n');

export const DEFAULT_SOLVER_PROMPT = [
  'Solve the task below with the plan and the evidence gathered for it. Evidence can be incomplete or wrong: use it ' +
    'with care. Reply with the answer only.',
  '',
  'Task: {{input}}',
  '',
  '{{plan}}',
].join('\n');

export interface PlanExecuteSpec {
  /** Writes the plan; prompt variables `{{input}}`, `{{workers}}`, `{{maxSteps}}` (default: DEFAULT_PLANNER_PROMPT). */
  planner: Agent;
  /** Writes the answer; prompt variables `{{input}}`, `{{plan}}` (plan with evidence; default: DEFAULT_SOLVER_PROMPT). */
  solver: Agent;
  /** Tools plan steps may use (registered on the worker; the allowlist). */
  tools?: Array<string | ToolRef>;
  /** Agents plan steps may use, by name (e.g. `LLM`): each gets the step's input, evidence put in, as `{{input}}`. */
  workers?: Agent[];
  /** Steps a plan may have (default 6). */
  maxSteps?: number;
  /** Plan steps running at once (default: all that are ready). */
  limit?: number;
  /**
   * Planner calls before giving up on an invalid plan: each one after the first sees why the last
   * was refused, and the last failure is a StructuredOutputError. Default: 1 + the planner's
   * `outputRepairs` (default 2).
   */
  planAttempts?: number;
}

export interface PlanExecuteResult {
  output: string;
  plan: PlanStep[];
  /** Each step's evidence by id (a failed tool's error text is its evidence). */
  evidence: Record<string, string>;
  /** Model usage per role: the planner's calls, the agent workers', the solver's. */
  tokens: Record<(typeof REWOO_ROLES)[number], RoleUsage>;
}

/** Role usage now minus role usage then: what this pattern spent, even when the run does more. */
function rolesSince(ctx: AgentContext, before: Record<string, RoleUsage>): PlanExecuteResult['tokens'] {
  const now = ctx.state.snapshot().roles ?? {};
  const zero: RoleUsage = {
    calls: 0,
    usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 },
    costUsd: 0,
  };
  const diff = (role: string): RoleUsage => {
    const a = now[role] ?? zero;
    const b = before[role] ?? zero;
    return {
      calls: a.calls - b.calls,
      usage: {
        inputTokens: a.usage.inputTokens - b.usage.inputTokens,
        outputTokens: a.usage.outputTokens - b.usage.outputTokens,
        cachedInputTokens: a.usage.cachedInputTokens - b.usage.cachedInputTokens,
      },
      costUsd: Math.round((a.costUsd - b.costUsd) * 1e8) / 1e8,
    };
  };
  return { planner: diff('planner'), worker: diff('worker'), solver: diff('solver') };
}

/**
 * Plan, run the plan as a graph, solve. In progress: the planner under its name, each plan step
 * as `E1:search`, `E2:LLM`..., the solver under its name.
 *
 * @example
 * const res = await planAndExecute(ctx, {
 *   planner: { name: 'planner', profile },
 *   solver: { name: 'solver', profile },
 *   tools: ['search', 'calculator'],
 *   workers: [{ name: 'LLM', profile, description: 'answers a question or reasons over evidence' }],
 * }, 'What is the combined population of France and Germany?');
 * res.tokens.planner.usage.inputTokens;
 */
export async function planAndExecute(
  ctx: AgentContext,
  spec: PlanExecuteSpec,
  input: string,
): Promise<PlanExecuteResult> {
  const before = ctx.state.snapshot().roles ?? {};
  const maxSteps = spec.maxSteps ?? 6;
  const tools = await loadTools(spec.tools);
  const agents = new Map((spec.workers ?? []).map((a) => [a.name, a]));
  const workers = [...tools.allowed, ...agents.keys()];
  if (workers.length === 0)
    throw invalidSpec('planAndExecute: give tools or worker agents for the plan to use');
  const workerList = [
    ...tools.specs.map((t) => `- ${t.name}: ${t.description} Input: ${inputHint(t)}`),
    ...[...agents.values()].map(
      (a) =>
        `- ${a.name}: ${a.description ?? 'a language model: give it a question or an instruction'} Input: text.`,
    ),
  ].join('\n');

  // 1. Plan (the planner may get a second chance, told what was wrong).
  const plannerKey = stepKey(ctx, spec.planner.name);
  let plan: PlanStep[] = [];
  await tracked(ctx, plannerKey, async () => {
    const scope = scopeOf(input, { workers: workerList, maxSteps: String(maxSteps) });
    const messages: ChatMessage[] = messagesFor(spec.planner, scope, DEFAULT_PLANNER_PROMPT);
    const format = responseFormatOf(REWOO_PLAN_FORMAT, planSchema(workers));
    if (patched(STRUCTURED_REPAIR_PATCH)) {
      // The repair loop every structured reply goes through; the check is the plan's own.
      const repairs =
        spec.planAttempts !== undefined
          ? Math.max(1, spec.planAttempts) - 1
          : (spec.planner.outputRepairs ?? DEFAULT_OUTPUT_REPAIRS);
      const { checked } = await withRepairs(
        plannerKey,
        messages,
        (sent) =>
          callAgent(ctx, spec.planner, scope, {
            key: plannerKey,
            role: 'planner',
            messages: sent,
            responseFormat: format,
          }),
        (res) => {
          const parsed = parsePlan(res.text, workers, maxSteps);
          if (parsed.ok) return parsed;
          const noPlan = parseJsonReply(res.text) === undefined && !parsePlanText(res.text);
          return { ok: false, issues: [{ path: noPlan ? '(root)' : 'steps', message: parsed.error }] };
        },
        repairs,
      );
      if (checked.ok) {
        plan = checked.value;
        return planText(plan);
      }
    }
    // Runs recorded before plans were repaired like every structured reply keep their course.
    const attempts = Math.max(1, spec.planAttempts ?? 2);
    let error = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const res = await callAgent(ctx, spec.planner, scope, {
        key: plannerKey,
        role: 'planner',
        messages: [...messages],
        responseFormat: format,
      });
      const parsed = parsePlan(res.text, workers, maxSteps);
      if (parsed.ok) {
        plan = parsed.value;
        return planText(plan);
      }
      error = parsed.error;
      messages.push(
        { role: 'assistant', content: res.text },
        { role: 'user', content: `That plan cannot run: ${error}. Write the whole plan again, fixed.` },
      );
    }
    throw ApplicationFailure.create({
      type: INVALID_PLAN,
      nonRetryable: true,
      message: `planner '${plannerKey}' wrote no plan that can run in ${attempts} attempt(s): ${error}`,
    });
  });

  // 2. Work: every step whose evidence is in starts at once.
  const evidence = await runDag<PlanStep, string>(
    plan,
    async (step, done) => {
      const key = stepKey(ctx, `${step.id}:${step.tool}`);
      const agent = agents.get(step.tool);
      if (agent) return runAgent(ctx, agent, substituteEvidence(step.input, done), { key, role: 'worker' });
      return tracked(ctx, key, async () => {
        const args = toolArguments(tools.byName.get(step.tool), step.input, done);
        const r = await executeToolCall(ctx, key, tools, { id: step.id, name: step.tool, arguments: args });
        return r.content;
      });
    },
    spec.limit !== undefined ? { limit: spec.limit } : {},
  );

  // 3. Solve.
  const output = await runAgent(ctx, spec.solver, input, {
    role: 'solver',
    vars: { plan: planText(plan, evidence) },
    defaultPrompt: DEFAULT_SOLVER_PROMPT,
  });
  return { output, plan, evidence: Object.fromEntries(evidence), tokens: rolesSince(ctx, before) };
}

/** How the planner should write a tool's input: text for a one-argument tool, else JSON. */
function inputHint(t: ToolSpec): string {
  const params = t.parameters as { properties?: Record<string, unknown>; required?: string[] };
  const props = Object.keys(params.properties ?? {});
  if (props.length <= 1 || params.required?.length === 1)
    return `text (its '${params.required?.[0] ?? props[0] ?? 'input'}').`;
  return `a JSON object with ${props.map((p) => `"${p}"`).join(', ')}.`;
}
