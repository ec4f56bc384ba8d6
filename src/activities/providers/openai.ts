import OpenAI from 'openai';
import { configFailure } from '../errors';
import type {
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { ChatMessage, FinishReason, ModelRequest, ProviderName } from '../../types';
import { strictSchemaAllowed } from './strict-schema';
import {
  type CallOptions,
  type ModelProvider,
  type ProviderReply,
  parseToolArguments,
  streamError,
} from './types';

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
      // Streamed, with usage in the last chunk: the reply is put together from the chunks, the same
      // as the non-streamed one, and the deltas reach watchers on the way.
      const params: ChatCompletionCreateParamsStreaming = {
        model: p.model,
        messages: toOpenAIMessages(req.messages),
        stream: true,
        stream_options: { include_usage: true },
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
      let text = '';
      let model: string | undefined;
      let finish: string | null | undefined;
      let usage: OpenAI.CompletionUsage | undefined;
      let seen = 0;
      const calls: { id: string; name: string; args: string; function: boolean }[] = [];
      try {
        const stream = await client.chat.completions.create(params, {
          signal: call.signal,
          ...(call.timeoutMs !== undefined && { timeout: call.timeoutMs }),
        });
        for await (const chunk of stream) {
          seen++;
          model ??= chunk.model;
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          if (choice.finish_reason) finish = choice.finish_reason;
          const delta = choice.delta;
          if (delta?.content) {
            text += delta.content;
            call.onDelta?.({ type: 'text', text: delta.content });
          }
          for (const d of delta?.tool_calls ?? []) {
            const c = (calls[d.index] ??= { id: '', name: '', args: '', function: true });
            if (d.type && d.type !== 'function') c.function = false;
            if (d.id) c.id = d.id;
            if (d.function?.name) c.name += d.function.name;
            if (d.function?.arguments) c.args += d.function.arguments;
            call.onDelta?.({
              type: 'tool_call',
              index: d.index,
              ...(d.id && { id: d.id }),
              ...(d.function?.name && { name: d.function.name }),
              arguments: d.function?.arguments ?? '',
            });
          }
        }
      } catch (err) {
        throw streamError(err, call.signal);
      }
      // A server that ignores `stream: true` and answers plain JSON streams nothing: say so instead
      // of recording an empty reply.
      if (seen === 0)
        throw configFailure(
          `${p.baseURL ?? 'the endpoint'} answered a streamed chat completion with no stream chunks; it must support stream: true (Server-Sent Events)`,
        );
      const toolCalls = calls
        .filter((c) => c && c.function)
        .map((c) => ({ id: c.id, name: c.name, arguments: parseToolArguments(c.args) }));
      return {
        text,
        toolCalls,
        finishReason: finishReason(finish),
        model: model || p.model,
        usage: {
          inputTokens: usage?.prompt_tokens ?? 0,
          outputTokens: usage?.completion_tokens ?? 0,
          cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
        },
      };
    },
  };
}
