/**
 * Tool calls from workflow code: which tools an agent may use (its allowlist), their JSON
 * Schemas (read from the worker's registry), approval before a gated tool runs, and one
 * activity per call. A refused, rejected or failed call becomes an observation for the model.
 */
import type { Duration as TemporalDuration } from '@temporalio/common';
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type {
  ToolActivities,
  ToolCallResult,
  ToolDescription,
  UnknownToolErrorType,
} from '../../activities/tools';
import type { Duration, ToolRef, ToolSpec } from '../../types';
import type { TimeoutOutcome } from '../api';
import { rejectionMessage, requestApproval, shorten } from '../approval';
import type { AgentContext } from './context';

const UNKNOWN_TOOL: UnknownToolErrorType = 'UnknownTool';

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
  /** JSON Schemas by name (for mapping a plan's text input onto a tool's arguments). */
  byName: Map<string, ToolSpec>;
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
export async function loadTools(tools: Array<string | ToolRef> | undefined): Promise<ToolSet> {
  const refs = toolRefs(tools);
  const allowed = refs.map((r) => r.name);
  const described: ToolDescription[] = allowed.length ? await registry.describeTools(allowed) : [];
  const gated = new Set<string>();
  for (const r of refs) if (r.requiresApproval) gated.add(r.name);
  const specs = described.map(({ requiresApproval, ...spec }) => {
    if (requiresApproval) gated.add(spec.name);
    return spec;
  });
  return { specs, allowed, gated, byName: new Map(specs.map((s) => [s.name, s])) };
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
  const acts = proxyActivities<ToolActivities>({
    startToCloseTimeout: (settings.timeout ?? '2 minutes') as TemporalDuration,
    heartbeatTimeout: (ctx.options?.heartbeatTimeout ?? '30 seconds') as TemporalDuration,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 3,
      nonRetryableErrorTypes: [UNKNOWN_TOOL],
    },
    summary: `${key}: ${call.name}`,
  });
  const r: ToolCallResult = await acts.callTool({ name: call.name, arguments: args, allowed: tools.allowed });
  ctx.state.recordTool(key);
  return {
    name: call.name,
    arguments: args,
    ok: r.ok,
    ...(r.error && { error: r.error }),
    content: r.content,
  };
}
