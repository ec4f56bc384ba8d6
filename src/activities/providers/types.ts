import type { FinishReason, ModelRequest, ProviderName, ToolCall, Usage } from '../../types';

/** What a provider returns for one call; cost and timing are added by the activity. */
export interface ProviderReply {
  text: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  /** The model that answered, as the provider named it. */
  model: string;
}

/** A piece of a reply as it streams in: new text, or a piece of a tool call (id and name when first seen). */
export type ReplyDelta =
  | { type: 'text'; text: string }
  | { type: 'tool_call'; index: number; id?: string; name?: string; arguments: string };

export interface CallOptions {
  /** Aborts the HTTP request when the activity is cancelled or times out. */
  signal: AbortSignal;
  /** Called with each delta as the provider streams it; the returned reply is the same either way. */
  onDelta?: (delta: ReplyDelta) => void;
  /** Per-request timeout for the SDK, in milliseconds. */
  timeoutMs?: number;
}

/** One model provider behind one interface; implementations live one per file beside this one. */
export interface ModelProvider {
  readonly name: ProviderName;
  complete(req: ModelRequest, opts: CallOptions): Promise<ProviderReply>;
}

/** Parse a tool call's JSON arguments; a model that wrote bad JSON gets it back as `_raw` instead of a crash. */
export function parseToolArguments(json: string | undefined | null): Record<string, unknown> {
  if (!json) return {};
  try {
    const parsed: unknown = JSON.parse(json);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : { value: parsed };
  } catch {
    return { _raw: json };
  }
}

/**
 * The provider's stream broke off after it began (a cut connection): the call may have been
 * billed, like any connection error. Its name matches what the model activity counts as unanswered.
 */
export class StreamConnectionError extends Error {
  override name = 'StreamConnectionError';
}

/** A stream's error as the model activity classifies it: HTTP errors as they are, anything else mid-stream as a cut connection. */
export function streamError(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return err;
  const e = err as { status?: number; name?: string } | undefined;
  if (e?.status !== undefined) return err;
  const kind = `${e?.name ?? ''} ${(err as object | undefined)?.constructor?.name ?? ''}`;
  if (/Connection|Timeout/.test(kind)) return err;
  return new StreamConnectionError(
    `the provider's stream broke off: ${err instanceof Error ? err.message : String(err)}`,
  );
}
