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

export interface CallOptions {
  /** Aborts the HTTP request when the activity is cancelled or times out. */
  signal: AbortSignal;
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
