/**
 * What every pattern shares: the run's bookkeeping (RunState), agents as plain data, and the
 * one way a pattern makes a model call (callModel in ../step.ts). Workflow code only.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  isCancellation,
  setHandler,
} from '@temporalio/workflow';
import type { StructuredSchema } from './shape';
import { parseJsonReply } from '../../structured-output';
import type {
  Budget,
  ChatMessage,
  ConversationRef,
  Duration,
  ModelProfile,
  ModelResponse,
  ResponseFormat,
  SchemaIssue,
  StepRetry,
  ToolRef,
  ToolSpec,
} from '../../types';
import { progressQuery, stepOutputQuery, type RunOptions, type RunResult } from '../api';
import { installApprovalHandlers } from '../approval';
import { StepError, describeError, failRun } from '../errors';
import { RunState } from '../run-state';
import { activityCheck, agentMessages, callModel, withRepairs } from '../step';
import type { TemplateScope } from '../template';
import type { ToolApprovalSettings } from './tools';

/** What a pattern runs in: the run's state (progress, usage, budget) and its options. */
export interface AgentContext {
  state: RunState;
  options?: RunOptions;
  /** The run's budget as it started; `state.ledger` keeps the money (limits, spending, reservations). */
  budget?: Budget;
  /** Put before every step name in progress, so a pattern nested in another stays apart. */
  prefix?: string;
  /** What the Temporal UI names this agent's calls when not its step (a fan-out instance's `review[3]`). */
  summary?: string;
  /**
   * The run id tool calls' idempotency keys start with, when not this workflow's own: a ReAct
   * step's child workflow (react-child.ts) issues the keys its run would.
   */
  toolKeyRunId?: string;
}

/**
 * An agent as plain JSON: it can travel as workflow input (a child workflow's, an ensemble's).
 * `prompt` is a template (`{{input}}` and the variables each pattern documents).
 */
export interface Agent {
  name: string;
  profile: ModelProfile;
  /** What the agent is for; routers and supervisors show it to the model that chooses. */
  description?: string;
  system?: string;
  prompt?: string;
  /** Time one attempt of a model call may take; defaults to the profile's timeout. */
  timeout?: Duration;
  retry?: StepRetry;
  /** Tools this agent may call (its allowlist); with tools it runs as a ReAct loop. */
  tools?: Array<string | ToolRef>;
  /** Upper bound on model calls of a tool-using agent (default 10). */
  maxIterations?: number;
  /** Time one tool call may take (default 2 minutes). */
  toolTimeout?: Duration;
  /** For tools that require approval: how long to wait for a person, and what a timeout decides (default 24 hours, reject). */
  toolApproval?: ToolApprovalSettings;
  /** JSON Schema the final output must match; the output is then JSON text. */
  outputSchema?: Record<string, unknown>;
  /**
   * Times a structured reply of this agent that misses its schema is asked for again, with what
   * is wrong (default 2); then the step fails with StructuredOutputError.
   */
  outputRepairs?: number;
  /**
   * Short-term memory of a tool-using agent: when its conversation grows past `maxContextTokens`
   * (estimated as characters / 4), older turns are replaced by a summary (a model call of the
   * agent's profile, counted in usage). The `keepRecent` latest messages stay as they are (default 4).
   */
  memory?: { maxContextTokens: number; keepRecent?: number };
}

/** Options of a run built from patterns. */
export interface RunContextOptions {
  budget?: Budget;
  options?: RunOptions;
}

/**
 * Create the context for patterns in a workflow of your own, and answer the `progress` query
 * from it (the same query `batonRun` answers, so `BatonClient.progress` works on your run), and
 * the approval decision Update and Signal (for tools that require approval). Call it once, before
 * the workflow's first `await`.
 *
 * @example const ctx = createRunContext('review', { budget: { maxTokens: 50_000 } });
 */
export function createRunContext(name: string, opts: RunContextOptions = {}): AgentContext {
  const state = new RunState(name, opts.budget);
  setHandler(progressQuery, () => state.bounded());
  setHandler(stepOutputQuery, (name) => state.outputOf(name) ?? null);
  installApprovalHandlers(state);
  return {
    state,
    ...(opts.options && { options: opts.options }),
    ...(opts.budget && { budget: opts.budget }),
  };
}

/** A finished run built from patterns: progress, usage and output, plus what the pattern returned. */
export type PatternRunResult<T> = RunResult & { result: T };

/**
 * Run a pattern as a whole workflow: create the context, run `body`, and return the run's
 * progress with the body's result. A failure ends the run the way `batonRun` does: a
 * non-retryable `StepFailed` (or `BudgetExceeded`) naming the step, carrying every result so far.
 *
 * @example
 * export async function review(input: { text: string; profile: ModelProfile }) {
 *   return runPattern('review', {}, (ctx) => evaluatorOptimizer(ctx, { generator, evaluator }, input.text));
 * }
 */
export async function runPattern<T extends { output: string }>(
  name: string,
  opts: RunContextOptions,
  body: (ctx: AgentContext) => Promise<T>,
): Promise<PatternRunResult<T>> {
  const ctx = createRunContext(name, opts);
  const { state } = ctx;
  try {
    const result = await body(ctx);
    state.output = result.output;
    state.status = 'completed';
    // Let a decision handler that is still running finish before the result is fixed.
    await condition(allHandlersFinished);
    return { ...(state.bounded() as RunResult), result };
  } catch (err) {
    throw failRun(state, err);
  }
}

/**
 * A pattern given a spec it cannot run (no agents, duplicate names...): a non-retryable failure
 * of the run. (A plain Error thrown from workflow code would fail the workflow task instead, and
 * Temporal would retry that task forever.)
 */
export function invalidSpec(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidDefinition', nonRetryable: true, message });
}

/** The name a step of this context shows in progress. */
export function stepKey(ctx: AgentContext, name: string): string {
  return (ctx.prefix ?? '') + name;
}

/** A context whose steps show under `name/` in progress: for a pattern run inside another. */
export function nested(ctx: AgentContext, name: string): AgentContext {
  return { ...ctx, prefix: `${stepKey(ctx, name)}/` };
}

/** A template scope from the input and a pattern's variables (`{{name}}` reads `vars.name`). */
export function scopeOf(input: string | TemplateScope, vars: Record<string, string> = {}): TemplateScope {
  if (typeof input === 'string') return { input, steps: { ...vars } };
  return { ...input, steps: { ...input.steps, ...vars } };
}

/**
 * Run `fn` as one step in progress: running, then completed with its output, or failed. A
 * failure leaves as a StepError naming the innermost step, which `runPattern` turns into a
 * failure of the run. Calling patterns without `runPattern`, catch it yourself: a StepError is a
 * plain Error, and one that escapes a workflow fails its workflow task, which Temporal retries.
 */
export async function tracked(ctx: AgentContext, key: string, fn: () => Promise<string>): Promise<string> {
  ctx.state.start(key);
  try {
    const out = await fn();
    ctx.state.complete(key, out);
    return out;
  } catch (err) {
    const info = describeError(err);
    ctx.state.fail(key, info);
    if (err instanceof StepError || isCancellation(err)) throw err;
    throw new StepError(key, info, err);
  }
}

/** How one model call of a pattern is made and counted. */
export interface CallOptions {
  /** Step name in progress (default: the agent's name). */
  key?: string;
  /** Role the call's usage is counted under (`roles` in progress): planner, solver, evaluator... */
  role?: string;
  /** Messages to send instead of the agent's system prompt and rendered prompt. */
  messages?: ChatMessage[];
  /** The agent's prompt when it has none. */
  defaultPrompt?: string;
  responseFormat?: ResponseFormat;
  tools?: ToolSpec[];
  /** A conversation in the payload store that `messages` follow (a ReAct agent's). */
  earlier?: ConversationRef;
  /** Store the conversation sent and answer its reference (`res.conversation`). */
  keepConversation?: boolean;
}

/** The messages an agent sends for a scope: its system prompt, then its rendered prompt. */
export function messagesFor(agent: Agent, scope: TemplateScope, defaultPrompt = '{{input}}'): ChatMessage[] {
  return agentMessages(
    { ...(agent.system !== undefined && { system: agent.system }), prompt: agent.prompt ?? defaultPrompt },
    scope,
  );
}

/**
 * One model call of an agent, as an activity (through callModel: timeouts, retries, budget,
 * usage), counted against its step and, given a role, the role.
 */
export async function callAgent(
  ctx: AgentContext,
  agent: Agent,
  scope: TemplateScope,
  opts: CallOptions = {},
): Promise<ModelResponse> {
  const key = opts.key ?? stepKey(ctx, agent.name);
  const messages = opts.messages ?? messagesFor(agent, scope, opts.defaultPrompt);
  const res = await callModel(
    ctx.state,
    key,
    {
      profile: agent.profile,
      messages,
      ...(opts.tools?.length && { tools: opts.tools }),
      ...(opts.responseFormat && { responseFormat: opts.responseFormat }),
      ...(opts.earlier && { earlier: opts.earlier }),
      ...(opts.keepConversation && { keepConversation: true }),
    },
    {
      ...(agent.timeout !== undefined && { timeout: agent.timeout }),
      ...(agent.retry && { retry: agent.retry }),
      ...(ctx.options && { options: ctx.options }),
      ...(ctx.summary && { summary: ctx.summary }),
    },
  );
  if (opts.role) ctx.state.recordRole(opts.role, res);
  return res;
}

/**
 * A JSON Schema for structured output, from a zod schema or a shape (./shape.ts). The schema's own
 * `toJSONSchema` is called, so zod itself is bundled only with workflows that build zod schemas.
 */
export function responseFormatOf(name: string, schema: StructuredSchema<unknown>): ResponseFormat {
  const { $schema: _drop, ...json } = schema.toJSONSchema({ unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { name, schema: json };
}

/** Read a model's JSON reply: plain JSON, or JSON inside a ```json fence or surrounded by prose. */
export { parseJsonReply };

/** A structured reply checked against its zod schema: the value, or why it does not fit. */
export type Parsed<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      error: string;
      /** Where the reply misses the schema, when known. */
      issues?: SchemaIssue[];
    };

/** Check a model's JSON reply against a zod schema (or a shape); the error says what is wrong, for the model to fix. */
export function parseStructured<T>(text: string, schema: StructuredSchema<T>): Parsed<T> {
  const json = parseJsonReply(text);
  if (json === undefined)
    return {
      ok: false,
      error: `the reply is not JSON: ${JSON.stringify(text.slice(0, 200))}`,
      issues: [{ path: '(root)', message: 'the reply is not JSON' }],
    };
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data as T };
  const issues = (r.error?.issues ?? []).map((i) => ({
    path: i.path.length ? i.path.map(String).join('.') : '(root)',
    message: i.message,
  }));
  return {
    ok: false,
    error: `the reply does not match the schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  };
}

/**
 * A model call asking for JSON that matches `schema`, and its parsed answer. A reply that does
 * not fit is asked for again with what is wrong (`agent.outputRepairs` times, default 2; each a
 * counted model call); then the step fails with StructuredOutputError. `parsed` is unfit only
 * when replaying a run recorded before replies were repaired.
 */
export async function callStructured<T>(
  ctx: AgentContext,
  agent: Agent,
  scope: TemplateScope,
  schema: StructuredSchema<T>,
  opts: CallOptions & { formatName: string },
): Promise<{ res: ModelResponse; parsed: Parsed<T> }> {
  const responseFormat = responseFormatOf(opts.formatName, schema);
  const key = opts.key ?? stepKey(ctx, agent.name);
  let parsed!: Parsed<T>;
  const { res } = await withRepairs(
    key,
    opts.messages ?? messagesFor(agent, scope, opts.defaultPrompt),
    (messages) => callAgent(ctx, agent, scope, { ...opts, key, messages, responseFormat }),
    (r) => {
      parsed = parseStructured(r.text, schema);
      return parsed.ok
        ? parsed
        : { ok: false, issues: parsed.issues ?? [{ path: '(root)', message: parsed.error }] };
    },
    agent.outputRepairs,
  );
  return { res, parsed };
}

/**
 * A model call of an agent with a JSON Schema `outputSchema`: the reply is checked by the model
 * activity and repaired like callStructured's. Returns the output text (the JSON).
 */
export async function callWithOutputSchema(
  ctx: AgentContext,
  agent: Agent & { outputSchema: Record<string, unknown> },
  scope: TemplateScope,
  opts: CallOptions = {},
): Promise<{ res: ModelResponse; output: string }> {
  const key = opts.key ?? stepKey(ctx, agent.name);
  const responseFormat: ResponseFormat = { name: 'output', schema: agent.outputSchema };
  const { res, checked } = await withRepairs(
    key,
    opts.messages ?? messagesFor(agent, scope, opts.defaultPrompt),
    (messages) => callAgent(ctx, agent, scope, { ...opts, key, messages, responseFormat }),
    activityCheck,
    agent.outputRepairs,
  );
  return { res, output: checked.ok ? checked.value : res.text };
}
