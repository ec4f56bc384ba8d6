import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { ChatMessage, FinishReason, ModelRequest, ProviderName } from '../../types';
import { strictSchemaAllowed } from './strict-schema';
import { type CallOptions, type ModelProvider, type ProviderReply, parseToolArguments } from './types';

/** Map our messages onto Chat Completions messages. */
function toOpenAIMessages(messages: ChatMessage[]): ChatCompletionMessageParam[] {
  return messages.map((m): ChatCompletionMessageParam => {
    switch (m.role) {
      case 'system':
      case 'user':
        return { role: m.role, content: m.content };
      case 'assistant':
        return {
          role: 'assistant',
          content: m.content,
          ...(m.toolCalls?.length && {
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: 'function' as const,
              function: { name: c.name, arguments: JSON.stringify(c.arguments) },
            })),
          }),
        };
      case 'tool':
        return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    }
  });
}

function finishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return reason;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'other';
  }
}

/**
 * OpenAI Chat Completions, and any endpoint that speaks it (Ollama, vLLM) through `baseURL`.
 * The SDK's own retries are off: Temporal's retry policy decides, so attempts are visible in history.
 */
export function createOpenAIProvider(opts: {
  apiKey: string;
  baseURL?: string;
  name?: ProviderName;
}): ModelProvider {
  const name = opts.name ?? 'openai';
  const client = new OpenAI({
    apiKey: opts.apiKey,
    baseURL: opts.baseURL ?? null,
    maxRetries: 0,
    // A redirect is not followed: it would carry the key (fetch keeps x-api-key across origins)
    // to a host the endpoint policy never saw. The 3xx becomes a non-retryable error instead.
    fetchOptions: { redirect: 'manual' },
  });
  return {
    name,
    async complete(req: ModelRequest, call: CallOptions): Promise<ProviderReply> {
      const p = req.profile;
      const params: ChatCompletionCreateParamsNonStreaming = {
        model: p.model,
        messages: toOpenAIMessages(req.messages),
      };
      if (p.temperature !== undefined) params.temperature = p.temperature;
      // OpenAI's newer models take max_completion_tokens; compatible servers mostly know only max_tokens.
      if (p.maxTokens !== undefined) {
        if (name === 'openai') params.max_completion_tokens = p.maxTokens;
        else params.max_tokens = p.maxTokens;
      }
      if (req.tools?.length) {
        params.tools = req.tools.map((t) => ({
          type: 'function' as const,
          function: { name: t.name, description: t.description, parameters: t.parameters },
        }));
      }
      if (req.responseFormat) {
        params.response_format = {
          type: 'json_schema',
          json_schema: {
            name: req.responseFormat.name,
            schema: req.responseFormat.schema,
            // Strict only where OpenAI accepts the schema; Baton checks every reply either way.
            strict: strictSchemaAllowed(req.responseFormat.schema),
          },
        };
      }
      const res = await client.chat.completions.create(params, {
        signal: call.signal,
        ...(call.timeoutMs !== undefined && { timeout: call.timeoutMs }),
      });
      const choice = res.choices[0];
      const toolCalls = (choice?.message.tool_calls ?? []).flatMap((c) =>
        c.type === 'function'
          ? [{ id: c.id, name: c.function.name, arguments: parseToolArguments(c.function.arguments) }]
          : [],
      );
      const usage = res.usage;
      return {
        text: choice?.message.content ?? '',
        toolCalls,
        finishReason: finishReason(choice?.finish_reason),
        model: res.model ?? p.model,
        usage: {
          inputTokens: usage?.prompt_tokens ?? 0,
          outputTokens: usage?.completion_tokens ?? 0,
          cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
        },
      };
    },
  };
}
