/**
 * Tool calls from workflow code: which tools an agent may use (its allowlist), their JSON
 * Schemas (read from the worker's registry), approval before a gated tool runs, and one
 * activity per call. A refused, rejected or failed call becomes an observation for the model.
 */
import type { Duration as TemporalDuration } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  ToolActivities,
  ToolCallRequest,
  ToolCallResult,
  ToolDescription,
  ToolNotRunErrorType,
  UnknownToolErrorType,
} from '../../activities/tools';
import type { Duration, McpServerDeclaration, ToolRef, ToolSpec } from '../../types';
import type { TimeoutOutcome } from '../api';
import { rejectionMessage, requestApproval, shorten } from '../approval';
import type { AgentContext } from './context';

const UNKNOWN_TOOL: UnknownToolErrorType = 'UnknownTool';
const TOOL_NOT_RUN: ToolNotRunErrorType = 'ToolNotRun';
/** Failure type of a step whose non-idempotent (or approved) tool call may or may not have happened. */
export const TOOL_OUTCOME_UNKNOWN = 'ToolOutcomeUnknown';
/** Attempts of one tool call in all: Temporal's retries, or the workflow's own for calls made at most once. */
const TOOL_ATTEMPTS = 3;
// Runs that reached a call made at most once before this code: Temporal retried every attempt.
const AT_MOST_ONCE_PATCH = 'baton-tool-call-at-most-once';

// Reading schemas is a quick lookup in the worker's memory: a local activity, no task queue trip.
const registry = proxyLocalActivities<ToolActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [UNKNOWN_TOOL] },
});

/** The tools one agent may call, as offered to its model. */
export interface ToolSet {
  /** What the model is offered: name, description, JSON Schema. */
  specs: ToolSpec[];
  /** The allowlist: a call to any other name is refused. */
  allowed: string[];
  /** Tools that wait for a person's approval before each call. */
  gated: Set<string>;
  /** Tools declared `idempotent: false` (by the agent's tool list or the worker's registry). */
  nonIdempotent?: Set<string>;
  /** JSON Schemas by name (for mapping a plan's text input onto a tool's arguments). */
  byName: Map<string, ToolSpec>;
  /** Tools offered to the model under another name (MCP's `<server>.<tool>`): model name → tool name. */
  fromModel?: Map<string, string>;
  /** The run's MCP server declarations, for calls to `<server>.<tool>`. */
  mcpServers?: Record<string, McpServerDeclaration>;
}

/** Names and approval flags of tool references (`'search'` or `{ name, requiresApproval }`). */
export function toolRefs(tools: Array<string | ToolRef> | undefined): ToolRef[] {
  return (tools ?? []).map((t) => (typeof t === 'string' ? { name: t } : t));
}

/**
 * Read the JSON Schemas of an agent's tools from the worker's registry. A name the worker does
 * not register fails at once (non-retryable `UnknownTool`, listing the registered ones). This is
 * a local activity, so it runs on the worker running the workflow: that worker must register
 * the tools too (Baton's createWorker registers workflows and tools together).
 */
export async function loadTools(
  tools: Array<string | ToolRef> | undefined,
  mcpServers?: Record<string, McpServerDeclaration>,
): Promise<ToolSet> {
  const refs = toolRefs(tools);
  const allowed = refs.map((r) => r.name);
  // Only the servers these tools use travel with the request (none for registered tools).
  const servers = pickServers(allowed, mcpServers);
  const described: ToolDescription[] = allowed.length
    ? await (servers ? registry.describeTools(allowed, servers) : registry.describeTools(allowed))
    : [];
  const gated = new Set<string>();
  for (const r of refs) if (r.requiresApproval) gated.add(r.name);
  const nonIdempotent = new Set(refs.filter((r) => r.idempotent === false).map((r) => r.name));
  const fromModel = new Map<string, string>();
  const specs = described.map(({ requiresApproval, idempotent, modelName, ...spec }) => {
    if (requiresApproval) gated.add(spec.name);
    if (idempotent === false) nonIdempotent.add(spec.name);
    if (modelName === undefined || modelName === spec.name) return spec;
    fromModel.set(modelName, spec.name);
    return { ...spec, name: modelName };
  });
  return {
    specs,
    allowed,
    gated,
    nonIdempotent,
    byName: new Map(specs.map((s) => [s.name, s])),
    ...(fromModel.size && { fromModel }),
    ...(servers && { mcpServers: servers }),
  };
}

/** The run's declarations of the MCP servers that `<server>.<tool>` names use; undefined when none. */
function pickServers(
  names: string[],
  declared: Record<string, McpServerDeclaration> | undefined,
): Record<string, McpServerDeclaration> | undefined {
  if (!declared) return undefined;
  const out: Record<string, McpServerDeclaration> = {};
  for (const n of names) {
    const server = mcpServerOf(n);
    if (server !== undefined && Object.prototype.hasOwnProperty.call(declared, server))
      out[server] = declared[server]!;
  }
  return Object.keys(out).length ? out : undefined;
}

/** `<server>` of an MCP tool name `<server>.<tool>`; undefined for a registered tool. */
function mcpServerOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : undefined;
}

/** How long a gated tool call waits for a person, and what happens when nobody decides. */
export interface ToolApprovalSettings {
  /** Default 24 hours. */
  deadline?: Duration;
  /** Default `reject`: a call nobody approved does not run. */
  onTimeout?: TimeoutOutcome;
  /** With `escalate`: how long to wait again after the notification. */
  escalationDeadline?: Duration;
}

/** Settings of one tool call. */
export interface ToolCallSettings {
  /** Time one attempt of the call may take (default 2 minutes). */
  timeout?: Duration;
  /** For tools that require approval. */
  approval?: ToolApprovalSettings;
}

/** What became of a tool call, for results and progress. */
export interface ToolCallRecord {
  name: string;
  arguments: Record<string, unknown>;
  ok: boolean;
  /** Why it produced no result: NotAllowed, InvalidArguments, ToolFailed, Rejected. */
  error?: string;
  /** The observation the model read. */
  content: string;
}

/**
 * Run one tool call the model proposed: refuse a tool outside the allowlist, ask a person when
 * the tool requires approval, then run it as its own activity. Never throws for the model's
 * mistakes or the tool's errors: those come back as the observation.
 */
export async function executeToolCall(
  ctx: AgentContext,
  key: string,
  tools: ToolSet,
  call: { id: string; name: string; arguments: Record<string, unknown> },
  settings: ToolCallSettings = {},
): Promise<ToolCallRecord> {
  let args = call.arguments;
  // Once the run has failed, no tool call starts and no gate opens (RunStopped).
  ctx.state.gates.assertRunning(`step '${key}' did not call '${call.name}'`);
  if (!tools.allowed.includes(call.name)) {
    const allowed = tools.allowed.length ? tools.allowed.join(', ') : 'none';
    return {
      name: call.name,
      arguments: args,
      ok: false,
      error: 'NotAllowed',
      content: `Error: tool '${call.name}' is not allowed for this agent (allowed: ${allowed}).`,
    };
  }
  if (tools.gated.has(call.name)) {
    // The gate waits durably (a timer in history); the step shows as waiting meanwhile.
    const a = settings.approval ?? {};
    ctx.state.setStatus(key, 'waiting');
    const d = await requestApproval(ctx.state, {
      gate: `${key}:${call.name}`,
      step: key,
      kind: 'tool',
      summary: shorten(`${call.name}(${JSON.stringify(args)})`),
      tool: { name: call.name, arguments: args },
      ...(a.deadline !== undefined && { deadline: a.deadline }),
      ...(a.onTimeout && { onTimeout: a.onTimeout }),
      ...(a.escalationDeadline !== undefined && { escalationDeadline: a.escalationDeadline }),
    });
    ctx.state.setStatus(key, 'running');
    if (d.outcome === 'rejected') {
      return {
        name: call.name,
        arguments: args,
        ok: false,
        error: 'Rejected',
        content: `Not run: the call to '${call.name}' was ${rejectionMessage(d)}.`,
      };
    }
    args = d.editedArguments ?? args;
  }
  ctx.state.gates.assertRunning(`step '${key}' did not call '${call.name}'`);
  const r = await runToolCall(ctx, key, tools, { name: call.name, arguments: args }, settings);
  ctx.state.recordTool(key);
  return {
    name: call.name,
    arguments: args,
    ok: r.ok,
    ...(r.error && { error: r.error }),
    content: r.content,
  };
}

/**
 * One tool call as activities, with its idempotency key: `<runId>/<step>#<n>`, n counting the
 * step's tool calls over the whole logical run (it carries over continue-as-new). The key is
 * computed here, so every attempt sees the same one. An idempotent tool is retried by Temporal.
 * A call made at most once (a tool declared `idempotent: false`, or an approved call) gets one
 * attempt; it is tried again only after a failure that proves nothing happened (`ToolNotRun`),
 * and anything else that may have reached the world (a timeout, a lost worker, another error)
 * fails the step with non-retryable `ToolOutcomeUnknown`.
 */
async function runToolCall(
  ctx: AgentContext,
  key: string,
  tools: ToolSet,
  call: { name: string; arguments: Record<string, unknown> },
  settings: ToolCallSettings,
): Promise<ToolCallResult> {
  const idempotencyKey = `${ctx.toolKeyRunId ?? workflowInfo().workflowId}/${key}#${ctx.state.nextToolCall(key)}`;
  const idempotent = !tools.nonIdempotent?.has(call.name);
  const req: ToolCallRequest = {
    name: call.name,
    arguments: call.arguments,
    allowed: tools.allowed,
    idempotencyKey,
    ...(!idempotent && { idempotent: false }),
  };
  const server = mcpServerOf(call.name);
  if (server !== undefined && tools.mcpServers?.[server]) req.mcpServer = tools.mcpServers[server];
  const options = {
    startToCloseTimeout: (settings.timeout ?? '2 minutes') as TemporalDuration,
    heartbeatTimeout: (ctx.options?.heartbeatTimeout ?? '30 seconds') as TemporalDuration,
    summary: `${ctx.summary ?? key}: ${call.name}`,
  };
  const backoff = {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
  } as const;
  const once = !idempotent || tools.gated.has(call.name);
  if (once && patched(AT_MOST_ONCE_PATCH)) {
    const acts = proxyActivities<ToolActivities>({ ...options, retry: { maximumAttempts: 1 } });
    for (let attempt = 1; ; attempt++) {
      try {
        return await acts.callTool({ ...req, attempt });
      } catch (err) {
        const notRun = notRunMessage(err);
        if (notRun === undefined) {
          // Only a cancellation this workflow asked for passes: a worker shutting down cancels
          // its calls too, and such a call may have acted.
          const cancelled = isCancellation(err) && CancellationScope.current().consideredCancelled;
          if (cancelled || failureType(err) === UNKNOWN_TOOL) throw err;
          const because = idempotent ? 'its call was approved for one run' : 'it is not idempotent';
          throw outcomeUnknown(key, call.name, idempotencyKey, attempt, because, err);
        }
        if (attempt >= TOOL_ATTEMPTS) return notRunResult(call.name, notRun);
        await sleep(Math.min(1000 * 2 ** (attempt - 1), 30_000));
      }
    }
  }
  const acts = proxyActivities<ToolActivities>({
    ...options,
    retry: { ...backoff, maximumAttempts: TOOL_ATTEMPTS, nonRetryableErrorTypes: [UNKNOWN_TOOL] },
  });
  try {
    return await acts.callTool(req);
  } catch (err) {
    // A tool that kept saying it did not run: the model reads why, as for any tool error.
    const notRun = notRunMessage(err);
    if (notRun !== undefined) return notRunResult(call.name, notRun);
    throw err;
  }
}

/** The failure type an activity failed with. */
function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** The tool's message when the attempt failed with `ToolNotRun` (nothing happened). */
function notRunMessage(err: unknown): string | undefined {
  return failureType(err) === TOOL_NOT_RUN ? (err as ActivityFailure).cause!.message : undefined;
}

function notRunResult(name: string, message: string): ToolCallResult {
  return { ok: false, error: 'ToolFailed', content: `Error: tool '${name}' failed: ${message}` };
}

/** The step's failure when a call made at most once may or may not have happened. */
function outcomeUnknown(
  step: string,
  tool: string,
  idempotencyKey: string,
  attempt: number,
  because: string,
  err: unknown,
): ApplicationFailure {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const why =
    cause instanceof TimeoutFailure
      ? `its attempt ended without an answer (${message})`
      : `it threw an error that does not say the call did not happen (${message})`;
  return ApplicationFailure.create({
    type: TOOL_OUTCOME_UNKNOWN,
    nonRetryable: true,
    message:
      `tool '${tool}' in step '${step}' may or may not have acted: ${why}. It is not called again: ` +
      `${because}. Idempotency key: ${idempotencyKey}. Look that key up in the outside system, then ` +
      'retry the run, or retry it with the step marked completed if the call did happen (docs/tools.md).',
    details: [{ tool, step, idempotencyKey, attempt }],
  });
}
