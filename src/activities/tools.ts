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
import type { McpServerDeclaration, ToolSpec } from '../types';
import {
  McpNotAllowed,
  McpNotConnected,
  mcpIdempotent,
  mcpResultText,
  modelToolName,
  serverAnswered,
  splitMcpName,
  type McpHub,
} from './mcp';
import { NOT_ALLOWED_BY_WORKER } from './scripts';

/** What a tool's `run` gets besides its input. */
export interface ToolContext {
  /** Aborted when the activity is cancelled or times out: pass it to every I/O call. */
  signal: AbortSignal;
  /**
   * One logical call's key: the same on every attempt of this call (retries, a new worker after a
   * crash) and different for every other call of the run, also after continue-as-new
   * (`<runId>/<step>#<n>`, see docs/tools.md). Pass it to the outside system to make a side
   * effect happen once.
   */
  idempotencyKey: string;
  /** 1 on the first attempt of this call. */
  attempt: number;
}

/** Failure type of a call that reported it did not happen (see {@link ToolNotRun}). */
export type ToolNotRunErrorType = 'ToolNotRun';
const TOOL_NOT_RUN: ToolNotRunErrorType = 'ToolNotRun';
/** Failure type of an error thrown by a non-idempotent tool that does not say whether the call happened. */
export type ToolErrorType = 'ToolError';
const TOOL_ERROR: ToolErrorType = 'ToolError';

/**
 * Throw this from a tool to say the call did not happen: nothing reached the outside world (the
 * request was refused before it was sent, or the service answered that it did nothing). It is the
 * one error a non-idempotent tool may be called again after. With `retry: true` the call is tried
 * again, with the same key (3 attempts in all); otherwise, or once those are used up, the model
 * reads the message as the call's failed result.
 *
 * @example if (res.status === 429) throw new ToolNotRun('the payment service is busy', { retry: true });
 */
export class ToolNotRun extends Error {
  override name = TOOL_NOT_RUN;
  readonly retry: boolean;
  constructor(message: string, opts: { retry?: boolean } = {}) {
    super(message);
    this.retry = opts.retry === true;
  }
}

// Matched by name too: a tools module may load its own copy of Baton.
function isToolNotRun(err: unknown): err is ToolNotRun {
  return err instanceof ToolNotRun || (err instanceof Error && err.name === TOOL_NOT_RUN);
}

/** A tool as registered on the worker. */
export interface ToolDefinition<I = any> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  /** A person must approve each call before it runs. */
  requiresApproval?: boolean;
  /**
   * `false`: a second attempt could act twice in the world (a payment, an email). Such a call is
   * never tried again after an attempt that may have reached the world (a timeout, a worker
   * crash, an error other than {@link ToolNotRun}); the step fails with `ToolOutcomeUnknown`
   * instead. Default `true`: failed attempts are retried with the same idempotency key.
   */
  idempotent?: boolean;
  /** Longer results are cut to this many characters before the model sees them (default 16,000): history stays small. */
  maxOutputChars?: number;
  run(input: I, ctx: ToolContext): Promise<unknown>;
}

/** A tool as the workflow offers it to a model, with what the registry knows of approvals. */
export interface ToolDescription extends ToolSpec {
  requiresApproval: boolean;
  /** The name the model is offered when `name` is not one model APIs accept (an MCP tool's `<server>.<tool>`). */
  modelName?: string;
  /** Present (false) only for tools registered with `idempotent: false`. */
  idempotent?: false;
}

/** One tool call, as the workflow asks for it. */
export interface ToolCallRequest {
  name: string;
  arguments: Record<string, unknown>;
  /** Tools this agent may call; a name outside it is refused (as an observation). Omit to allow all. */
  allowed?: string[];
  /** The call's key, computed by the workflow (the same on every attempt); older runs omit it. */
  idempotencyKey?: string;
  /** The attempt of this logical call when the workflow retries it itself (non-idempotent tools). */
  attempt?: number;
  /** `false` when the agent's tool list says so (the worker's own flag counts too). */
  idempotent?: boolean;
  /** For `<server>.<tool>`: the run's declaration of that server, when the run declares it (`mcp_servers`). */
  mcpServer?: McpServerDeclaration;
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
  idempotent?: boolean;
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
export function createToolActivities(tools: ToolDefinition[] = [], mcp?: McpHub) {
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

  const describeRegistered = (t: ToolDefinition): ToolDescription => ({
    name: t.name,
    description: t.description,
    parameters: toolParameters(t.input),
    requiresApproval: t.requiresApproval === true,
    ...(t.idempotent === false && { idempotent: false as const }),
  });

  const hub = (name: string) => {
    if (mcp) return mcp;
    throw notAllowed(
      `tool '${name}' is an MCP server's tool, and this worker has no MCP servers (declare them with mcp_servers)`,
    );
  };

  /** An MCP server's tool as the workflow offers it: the server's JSON Schema and annotations. */
  const describeMcpTool = async (
    name: string,
    servers: Record<string, McpServerDeclaration> | undefined,
  ): Promise<ToolDescription> => {
    const { server, tool } = splitMcpName(name)!;
    const h = hub(name);
    const r = resolveServer(h, server, servers?.[server]);
    let listed;
    try {
      listed = await h.listTools(r, Context.current().cancellationSignal);
    } catch (err) {
      throw ApplicationFailure.create({
        type: 'McpUnavailable',
        message: `MCP server '${server}' did not list its tools: ${(err as Error).message}`,
      });
    }
    const t = listed.find((x) => x.name === tool);
    if (!t) {
      throw ApplicationFailure.create({
        type: UNKNOWN_TOOL,
        nonRetryable: true,
        message: `unknown tool '${name}': MCP server '${server}' has ${listed.length ? `these tools: ${listed.map((x) => x.name).join(', ')}` : 'no tools'}`,
      });
    }
    const { $schema: _drop, ...parameters } = t.inputSchema as Record<string, unknown>;
    const model = modelToolName(name);
    return {
      name,
      description: t.description ?? t.title ?? name,
      parameters,
      requiresApproval: r.config.requiresApproval === true,
      ...(model !== name && { modelName: model }),
      ...(!mcpIdempotent(r.config, t) && { idempotent: false as const }),
    };
  };

  /** One MCP tool call: a tool error or a refused request is an observation; a lost answer follows the idempotency rules. */
  const callMcpTool = async (req: ToolCallRequest): Promise<ToolCallResult> => {
    const { server, tool } = splitMcpName(req.name)!;
    const h = hub(req.name);
    const r = resolveServer(h, server, req.mcpServer);
    const ctx = Context.current();
    const stopHeartbeat = keepAlive(ctx);
    try {
      const res = await h.callTool(r, tool, req.arguments ?? {}, {
        signal: ctx.cancellationSignal,
        idempotencyKey:
          req.idempotencyKey ??
          `${ctx.info.workflowExecution?.workflowId ?? 'standalone'}/${ctx.info.activityId}`,
        timeoutMs: ctx.info.startToCloseTimeoutMs,
      });
      const text = observationText(mcpResultText(res));
      return res.isError
        ? { ok: false, error: 'ToolFailed', content: `Error: tool '${req.name}' failed: ${text}` }
        : { ok: true, content: text };
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
      const message = err instanceof Error ? err.message : String(err);
      // Nothing was sent: safe to try again for any tool.
      if (err instanceof McpNotConnected)
        throw ApplicationFailure.create({ type: TOOL_NOT_RUN, message, nonRetryable: false });
      if (serverAnswered(err)) {
        // The server answered with a protocol error: the call did not run as asked.
        const { ErrorCode } =
          require('@modelcontextprotocol/sdk/types.js') as typeof import('@modelcontextprotocol/sdk/types.js');
        const invalid = err.code === (ErrorCode.InvalidParams as number);
        return {
          ok: false,
          error: invalid ? 'InvalidArguments' : 'ToolFailed',
          content: `Error: ${invalid ? `invalid arguments for tool '${req.name}'` : `tool '${req.name}' failed`}: ${message}`,
        };
      }
      // The request may have reached the server and the answer was lost.
      throw ApplicationFailure.create({
        type: req.idempotent === false ? TOOL_ERROR : 'McpCallInterrupted',
        message: `MCP call to '${req.name}' got no answer: ${message}`,
        nonRetryable: req.idempotent === false,
      });
    } finally {
      stopHeartbeat();
    }
  };

  return {
    /** JSON Schemas of the named tools (all registered tools without names), for offering to a model. */
    async describeTools(
      names?: string[],
      mcpServers?: Record<string, McpServerDeclaration>,
    ): Promise<ToolDescription[]> {
      if (names?.some((n) => splitMcpName(n)))
        return Promise.all(
          names.map(async (n) =>
            splitMcpName(n) ? describeMcpTool(n, mcpServers) : describeRegistered(lookup(n)),
          ),
        );
      const picked = names ? names.map(lookup) : [...registry.values()];
      return picked.map(describeRegistered);
    },

    /**
     * Run one tool call. Arguments that fail the tool's schema, a tool outside `allowed`, and an
     * error the tool throws all come back as observations (`ok: false`) for the model to read. An
     * ApplicationFailure thrown by the tool is passed on, so a tool can ask Temporal for a retry.
     * A {@link ToolNotRun} with `retry` fails the attempt as a retryable `ToolNotRun`; any other
     * error of a non-idempotent tool fails it as a non-retryable `ToolError`, which the workflow
     * reads as an outcome it cannot know.
     */
    async callTool(req: ToolCallRequest): Promise<ToolCallResult> {
      const tool = splitMcpName(req.name) ? undefined : lookup(req.name);
      if (req.allowed && !req.allowed.includes(req.name)) {
        const allowed = req.allowed.length ? req.allowed.join(', ') : 'none';
        return {
          ok: false,
          error: 'NotAllowed',
          content: `Error: tool '${req.name}' is not allowed for this agent (allowed: ${allowed}).`,
        };
      }
      if (!tool) return callMcpTool(req);
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
          // Runs started before keys were computed in the workflow: the activity's own id.
          idempotencyKey:
            req.idempotencyKey ??
            `${ctx.info.workflowExecution?.workflowId ?? 'standalone'}/${ctx.info.activityId}`,
          attempt: req.attempt ?? ctx.info.attempt,
        });
        return { ok: true, content: observationText(value, tool.maxOutputChars) };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        if (err instanceof ApplicationFailure || err instanceof CancelledFailure) throw err;
        const message = err instanceof Error ? err.message : String(err);
        if (isToolNotRun(err)) {
          if (err.retry)
            throw ApplicationFailure.create({ type: TOOL_NOT_RUN, message, nonRetryable: false });
        } else if (req.idempotent === false || tool.idempotent === false) {
          throw ApplicationFailure.create({ type: TOOL_ERROR, message, nonRetryable: true });
        }
        return { ok: false, error: 'ToolFailed', content: `Error: tool '${req.name}' failed: ${message}` };
      } finally {
        stopHeartbeat();
      }
    },
  };
}

export type ToolActivities = ReturnType<typeof createToolActivities>;

function notAllowed(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: NOT_ALLOWED_BY_WORKER, nonRetryable: true, message });
}

function resolveServer(hub: McpHub, server: string, decl: McpServerDeclaration | undefined) {
  try {
    return hub.resolve(server, decl);
  } catch (err) {
    if (err instanceof McpNotAllowed) throw notAllowed(err.message);
    throw err;
  }
}
