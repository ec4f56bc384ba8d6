/**
 * Tools agents may call. Tools are registered on the worker with zod input schemas; each call
 * runs as its own activity, so a call that finished is never run again after a crash or a retry
 * of a later step. What the model sees of a call (its result, or why it failed) is an
 * observation: bad arguments and tool errors go back to the model instead of failing the run.
 */
import { Context } from '@temporalio/activity';
import { keepAlive } from './heartbeat';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { z } from 'zod';
import type { ToolSpec } from '../types';

/** What a tool's `run` gets besides its input. */
export interface ToolContext {
  /** Aborted when the activity is cancelled or times out: pass it to every I/O call. */
  signal: AbortSignal;
  /** Stable across retries of this call (`<workflowId>/<activityId>`): use it to make side effects idempotent. */
  idempotencyKey: string;
  /** 1 on the first attempt of this call. */
  attempt: number;
}

/** A tool as registered on the worker. */
export interface ToolDefinition<I = any> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  /** A person must approve each call before it runs. */
  requiresApproval?: boolean;
  /** Longer results are cut to this many characters before the model sees them (default 16,000): history stays small. */
  maxOutputChars?: number;
  run(input: I, ctx: ToolContext): Promise<unknown>;
}

/** A tool as the workflow offers it to a model, with what the registry knows of approvals. */
export interface ToolDescription extends ToolSpec {
  requiresApproval: boolean;
}

/** One tool call, as the workflow asks for it. */
export interface ToolCallRequest {
  name: string;
  arguments: Record<string, unknown>;
  /** Tools this agent may call; a name outside it is refused (as an observation). Omit to allow all. */
  allowed?: string[];
}

/** Why a call produced no result; the model reads `content` either way. */
export type ToolErrorKind = 'InvalidArguments' | 'NotAllowed' | 'ToolFailed';

/** What came of one tool call: `content` is the observation the model reads next. */
export interface ToolCallResult {
  ok: boolean;
  content: string;
  error?: ToolErrorKind;
}

/** Failure type of a call to a tool this worker does not register; never retried. */
export type UnknownToolErrorType = 'UnknownTool';
const UNKNOWN_TOOL: UnknownToolErrorType = 'UnknownTool';

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/; // what OpenAI and Anthropic accept as a function name
const DEFAULT_MAX_OUTPUT = 16_000;

/**
 * Define a tool: a name the model calls it by, a description the model reads, a zod schema its
 * arguments must match, and the function that does the work (in the worker, with I/O allowed).
 *
 * @example
 * const search = createTool({
 *   name: 'search',
 *   description: 'Look a fact up in the knowledge base.',
 *   input: z.object({ query: z.string().describe('what to look up') }),
 *   run: async ({ query }, { signal }) => (await fetch(`https://kb.example/?q=${query}`, { signal })).text(),
 * });
 * await createWorker({ connection, tools: [search] });
 */
export function createTool<S extends z.ZodType>(def: {
  name: string;
  description: string;
  input: S;
  requiresApproval?: boolean;
  maxOutputChars?: number;
  run: (input: z.output<S>, ctx: ToolContext) => unknown;
}): ToolDefinition<z.output<S>> {
  if (!TOOL_NAME.test(def.name)) {
    throw new Error(
      `tool name '${def.name}' is not valid: use letters, digits, - and _ (at most 64), as model APIs require`,
    );
  }
  return {
    ...def,
    input: def.input as z.ZodType<z.output<S>>,
    run: async (input, ctx) => def.run(input, ctx),
  };
}

/** The JSON Schema a model is offered for a tool's arguments (zod 4's own conversion, input side). */
export function toolParameters(input: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...schema } = z.toJSONSchema(input, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return schema;
}

/** Text for the model: strings as they are, anything else as JSON; cut to `max` characters. */
export function observationText(value: unknown, max = DEFAULT_MAX_OUTPUT): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value === undefined || value === null) text = '(no output)';
  else if (typeof value !== 'object' && typeof value !== 'function')
    text = String(value as number | boolean | bigint | symbol);
  else {
    try {
      text = JSON.stringify(value) ?? '(no output)';
    } catch (err) {
      text = `(the output could not be shown as JSON: ${(err as Error).message})`;
    }
  }
  return text.length > max ? `${text.slice(0, max)}\n[cut: ${text.length - max} more characters]` : text;
}

/**
 * The tool activities for a worker's registered tools: `describeTools` (what the workflow
 * offers a model) and `callTool` (one call).
 */
export function createToolActivities(tools: ToolDefinition[] = []) {
  const registry = new Map<string, ToolDefinition>();
  for (const t of tools) {
    if (registry.has(t.name)) throw new Error(`tool '${t.name}' is registered twice on this worker`);
    registry.set(t.name, t);
  }

  const lookup = (name: string): ToolDefinition => {
    const tool = registry.get(name);
    if (tool) return tool;
    const known = registry.size
      ? `this worker registers: ${[...registry.keys()].sort().join(', ')}`
      : 'this worker registers no tools';
    throw ApplicationFailure.create({
      type: UNKNOWN_TOOL,
      nonRetryable: true,
      message: `unknown tool '${name}' (${known}). Register it with createWorker({ tools: [...] }), or remove it from the agent's tools.`,
    });
  };

  return {
    /** JSON Schemas of the named tools (all registered tools without names), for offering to a model. */
    async describeTools(names?: string[]): Promise<ToolDescription[]> {
      const picked = names ? names.map(lookup) : [...registry.values()];
      return picked.map((t) => ({
        name: t.name,
        description: t.description,
        parameters: toolParameters(t.input),
        requiresApproval: t.requiresApproval === true,
      }));
    },

    /**
     * Run one tool call. Arguments that fail the tool's schema, a tool outside `allowed`, and an
     * error the tool throws all come back as observations (`ok: false`) for the model to read. An
     * ApplicationFailure thrown by the tool is passed on, so a tool can ask Temporal for a retry.
     */
    async callTool(req: ToolCallRequest): Promise<ToolCallResult> {
      const tool = lookup(req.name);
      if (req.allowed && !req.allowed.includes(req.name)) {
        const allowed = req.allowed.length ? req.allowed.join(', ') : 'none';
        return {
          ok: false,
          error: 'NotAllowed',
          content: `Error: tool '${req.name}' is not allowed for this agent (allowed: ${allowed}).`,
        };
      }
      const parsed = tool.input.safeParse(req.arguments ?? {});
      if (!parsed.success) {
        return {
          ok: false,
          error: 'InvalidArguments',
          content: `Error: invalid arguments for tool '${req.name}':\n${z.prettifyError(parsed.error)}\nCall it again with arguments that match its schema.`,
        };
      }
      const ctx = Context.current();
      const stopHeartbeat = keepAlive(ctx);
      try {
        const value = await tool.run(parsed.data, {
          signal: ctx.cancellationSignal,
          idempotencyKey: `${ctx.info.workflowExecution?.workflowId ?? 'standalone'}/${ctx.info.activityId}`,
          attempt: ctx.info.attempt,
        });
        return { ok: true, content: observationText(value, tool.maxOutputChars) };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        if (err instanceof ApplicationFailure || err instanceof CancelledFailure) throw err;
        const message = err instanceof Error ? err.message : String(err);
        return { ok: false, error: 'ToolFailed', content: `Error: tool '${req.name}' failed: ${message}` };
      } finally {
        stopHeartbeat();
      }
    },
  };
}

export type ToolActivities = ReturnType<typeof createToolActivities>;
