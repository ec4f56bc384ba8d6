import Anthropic from '@anthropic-ai/sdk';
import type {
  MessageCreateParamsBase,
  MessageParam,
  ContentBlockParam,
} from '@anthropic-ai/sdk/resources/messages';
import type { ChatMessage, FinishReason, ModelRequest } from '../../types';
import { type CallOptions, type ModelProvider, type ProviderReply, streamError } from './types';

const DEFAULT_MAX_TOKENS = 4096;

/**
 * Map our messages onto Anthropic's: the system prompt goes apart, tool results become
 * `tool_result` blocks of a user turn, and consecutive turns of one role are merged
 * (the Messages API wants user and assistant turns to alternate).
 */
function toAnthropic(messages: ChatMessage[]): { system?: string; messages: MessageParam[] } {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  const out: MessageParam[] = [];
  const push = (role: 'user' | 'assistant', blocks: ContentBlockParam[]) => {
    const last = out[out.length - 1];
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    // The Messages API refuses empty text blocks and empty turns; leave them out.
    if (m.role === 'user') {
      if (m.content) push('user', [{ type: 'text', text: m.content }]);
    } else if (m.role === 'tool')
      push('user', [{ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }]);
    else if (m.role === 'assistant') {
      const blocks: ContentBlockParam[] = m.content ? [{ type: 'text', text: m.content }] : [];
      for (const c of m.toolCalls ?? [])
        blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.arguments });
      if (blocks.length) push('assistant', blocks);
    }
  }
  return { ...(system.length && { system: system.join('\n\n') }), messages: out };
}

function finishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'other';
  }
}

/**
 * Anthropic Messages. Structured output is asked for with a forced tool whose input schema is the
 * wanted JSON Schema; its input becomes the reply's text.
 */
export function createAnthropicProvider(opts: { apiKey: string; baseURL?: string }): ModelProvider {
  const client = new Anthropic({
    apiKey: opts.apiKey,
    baseURL: opts.baseURL ?? null,
    maxRetries: 0,
    // A redirect is not followed: it would carry the key (fetch keeps x-api-key across origins)
    // to a host the endpoint policy never saw. The 3xx becomes a non-retryable error instead.
    fetchOptions: { redirect: 'manual' },
  });
  return {
    name: 'anthropic',
    async complete(req: ModelRequest, call: CallOptions): Promise<ProviderReply> {
      const p = req.profile;
      const { system, messages } = toAnthropic(req.messages);
      const params: MessageCreateParamsBase = {
        model: p.model,
        max_tokens: p.maxTokens ?? DEFAULT_MAX_TOKENS,
        messages,
      };
      if (system) params.system = system;
      // SDK 1.x no longer types `temperature`; send it only when a profile asks for it.
      if (p.temperature !== undefined) Object.assign(params, { temperature: Math.min(1, p.temperature) });
      const tools = (req.tools ?? []).map((t) => ({
        name: t.name,
        description: t.description,
        input_schema: t.parameters as Anthropic.Tool.InputSchema,
      }));
      const format = req.responseFormat;
      if (format) {
        tools.push({
          name: format.name,
          description: 'Give the answer as this tool call.',
          input_schema: format.schema as Anthropic.Tool.InputSchema,
        });
        params.tool_choice = { type: 'tool', name: format.name };
      }
      if (tools.length) params.tools = tools;

      // Streamed: the SDK puts the final message together from the events, the same message the
      // non-streamed call returns, and the deltas reach watchers on the way.
      let res: Anthropic.Message;
      try {
        const stream = client.messages.stream(params, {
          signal: call.signal,
          ...(call.timeoutMs !== undefined && { timeout: call.timeoutMs }),
        });
        /** Content block index -> tool call index (the structured-output tool streams as text). */
        const toolIndex = new Map<number, number>();
        const asText = new Set<number>();
        for await (const ev of stream) {
          if (ev.type === 'content_block_start' && ev.content_block.type === 'tool_use') {
            const b = ev.content_block;
            if (format && b.name === format.name) asText.add(ev.index);
            else {
              toolIndex.set(ev.index, toolIndex.size);
              call.onDelta?.({
                type: 'tool_call',
                index: toolIndex.get(ev.index)!,
                id: b.id,
                name: b.name,
                arguments: '',
              });
            }
          } else if (ev.type === 'content_block_delta') {
            const d = ev.delta;
            if (d.type === 'text_delta') call.onDelta?.({ type: 'text', text: d.text });
            else if (d.type === 'input_json_delta' && d.partial_json) {
              if (asText.has(ev.index)) call.onDelta?.({ type: 'text', text: d.partial_json });
              else if (toolIndex.has(ev.index))
                call.onDelta?.({
                  type: 'tool_call',
                  index: toolIndex.get(ev.index)!,
                  arguments: d.partial_json,
                });
            }
          }
        }
        res = await stream.finalMessage();
      } catch (err) {
        throw streamError(err, call.signal);
      }
      let text = '';
      const toolCalls: ProviderReply['toolCalls'] = [];
      for (const block of res.content) {
        if (block.type === 'text') text += block.text;
        else if (block.type === 'tool_use') {
          if (format && block.name === format.name) text = JSON.stringify(block.input);
          else
            toolCalls.push({
              id: block.id,
              name: block.name,
              arguments: (block.input ?? {}) as Record<string, unknown>,
            });
        }
      }
      const u = res.usage;
      const cached = u.cache_read_input_tokens ?? 0;
      return {
        text,
        toolCalls,
        // A forced structured-output tool is an answer, not a tool call for the agent to run.
        finishReason: format && toolCalls.length === 0 ? 'stop' : finishReason(res.stop_reason),
        model: res.model ?? p.model,
        usage: {
          // Anthropic counts cache reads and writes apart from input_tokens; ours is the total.
          inputTokens: u.input_tokens + cached + (u.cache_creation_input_tokens ?? 0),
          outputTokens: u.output_tokens,
          cachedInputTokens: cached,
        },
      };
    },
  };
}
