import type { ChatMessage, ModelRequest } from '../../types';
import type { CallOptions, ModelProvider, ProviderReply } from './types';

/** Rough token count, as used for the offline provider's usage figures. */
export function roughTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** A small stable hash, so the same prompt always gets the same reply. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Build a value that fits a JSON Schema: the first enum value, `true` for booleans, and so on. */
export function sampleFromSchema(schema: unknown, seed: number, depth = 0): unknown {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[seed % s.enum.length];
  if ('const' in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, v], i) => [k, sampleFromSchema(v, seed + i, depth + 1)]));
    }
    case 'array':
      return depth > 3 ? [] : [sampleFromSchema(s.items, seed, depth + 1)];
    case 'boolean':
      return true;
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : typeof s.maximum === 'number' ? s.maximum : 1;
    case 'string':
      return `offline-${(seed % 1000).toString().padStart(3, '0')}`;
    default:
      return null;
  }
}

function lastUser(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === 'user') return messages[i]!.content;
  return '';
}

/**
 * A deterministic stand-in model for demos and offline work: no network, no key, no cost.
 * It restates what it was asked, so a chain's steps visibly feed each other.
 */
export function createOfflineProvider(): ModelProvider {
  return {
    name: 'offline',
    async complete(req: ModelRequest, call: CallOptions): Promise<ProviderReply> {
      call.signal.throwIfAborted();
      const prompt = req.messages.map((m) => m.content).join('\n');
      const seed = hash(prompt);
      let text: string;
      if (req.responseFormat) {
        text = JSON.stringify(sampleFromSchema(req.responseFormat.schema, seed));
      } else {
        // The first line of the prompt is the instruction; the rest is usually upstream material.
        const asked = lastUser(req.messages).trim();
        const instruction = (asked.split('\n')[0] ?? '').replace(/\s+/g, ' ').trim();
        const gist = instruction.length > 100 ? `${instruction.slice(0, 97)}...` : instruction;
        const words = asked.split(/\s+/).filter(Boolean).length;
        text = `[offline #${(seed % 10000).toString().padStart(4, '0')}] ${gist} (${words} words read)`;
      }
      return {
        text,
        toolCalls: [],
        finishReason: 'stop',
        model: req.profile.model,
        usage: { inputTokens: roughTokens(prompt), outputTokens: roughTokens(text), cachedInputTokens: 0 },
      };
    },
  };
}
