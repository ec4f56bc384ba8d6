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

/**
 * Build a value that fits a JSON Schema: an enum value picked by the seed, `true` for booleans,
 * and so on. Strings are `text` when given (tool arguments get the question), else a stable tag.
 */
export function sampleFromSchema(schema: unknown, seed: number, depth = 0, text?: string): unknown {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[seed % s.enum.length];
  if ('const' in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(
        Object.entries(props).map(([k, v], i) => [k, sampleFromSchema(v, seed + i, depth + 1, text)]),
      );
    }
    case 'array':
      return depth > 3 ? [] : [sampleFromSchema(s.items, seed, depth + 1, text)];
    case 'boolean':
      return true;
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : typeof s.maximum === 'number' ? s.maximum : 1;
    case 'string':
      return text ?? `offline-${(seed % 1000).toString().padStart(3, '0')}`;
    default:
      return null;
  }
}

/** Offered tools and an output schema count as input, as they do for real models (they are sent every call). */
function toolText(req: ModelRequest): string {
  const tools = (req.tools ?? []).map((t) => t.name + t.description + JSON.stringify(t.parameters)).join('');
  return tools + (req.responseFormat ? JSON.stringify(req.responseFormat.schema) : '');
}

function lastUser(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]!.role === 'user') return messages[i]!.content;
  return '';
}

/** The first line of what was last asked, on one line and at most `max` characters. */
function gistOf(messages: ChatMessage[], max = 100): string {
  const instruction = (lastUser(messages).trim().split('\n')[0] ?? '').replace(/\s+/g, ' ').trim();
  return instruction.length > max ? `${instruction.slice(0, max - 3)}...` : instruction;
}

/** Name of the ReWOO planner's structured output (src/workflows/patterns/plan-execute.ts, REWOO_PLAN_FORMAT). */
const REWOO_PLAN_FORMAT = 'rewoo_plan';

/**
 * A small valid ReWOO plan over the workers the planner schema offers (`steps[].tool` enum):
 * the first two workers look at the question independently (so they run in parallel), and the
 * last one combines their evidence (#E1, #E2).
 */
export function offlinePlan(
  schema: unknown,
  question: string,
): { steps: { id: string; description: string; tool: string; input: string }[] } {
  const workers = ((schema as any)?.properties?.steps?.items?.properties?.tool?.enum ?? []) as string[];
  const step = (n: number, tool: string, input: string) => ({
    id: `E${n}`,
    description: `Use ${tool} on the task.`,
    tool,
    input,
  });
  if (workers.length === 0) return { steps: [] };
  if (workers.length === 1) return { steps: [step(1, workers[0]!, question)] };
  if (workers.length === 2)
    return { steps: [step(1, workers[0]!, question), step(2, workers[1]!, `Answer from #E1: ${question}`)] };
  return {
    steps: [
      step(1, workers[0]!, question),
      step(2, workers[1]!, question),
      step(3, workers[workers.length - 1]!, `Answer from #E1 and #E2: ${question}`),
    ],
  };
}

/**
 * A deterministic stand-in model for demos and offline work: no network, no key, no cost.
 * It restates what it was asked, so a chain's steps visibly feed each other. Offered tools and
 * no tool result yet, it calls the first tool (string arguments: the question); with tool
 * results, it answers from them. Asked for a ReWOO plan, it writes a small valid one.
 */
export function createOfflineProvider(opts: { wordDelayMs?: number } = {}): ModelProvider {
  const wordDelayMs = opts.wordDelayMs ?? 0;
  return {
    name: 'offline',
    async complete(req: ModelRequest, call: CallOptions): Promise<ProviderReply> {
      call.signal.throwIfAborted();
      const prompt = req.messages.map((m) => m.content).join('\n');
      const seed = hash(prompt);
      let text: string;
      let toolCalls: ProviderReply['toolCalls'] = [];
      const observations = req.messages.filter((m) => m.role === 'tool');
      if (req.responseFormat?.name === REWOO_PLAN_FORMAT) {
        text = JSON.stringify(offlinePlan(req.responseFormat.schema, gistOf(req.messages)));
      } else if (req.responseFormat) {
        text = JSON.stringify(sampleFromSchema(req.responseFormat.schema, seed));
      } else if (req.tools?.length && observations.length === 0) {
        const tool = req.tools[0]!;
        const args = sampleFromSchema(tool.parameters, seed, 0, gistOf(req.messages));
        toolCalls = [
          {
            id: `offline_call_${seed % 100000}`,
            name: tool.name,
            arguments: (args ?? {}) as Record<string, unknown>,
          },
        ];
        text = '';
      } else if (observations.length > 0) {
        const last = observations[observations.length - 1]!.content.replace(/\s+/g, ' ').trim();
        text =
          `[offline #${(seed % 10000).toString().padStart(4, '0')}] answer to "${gistOf(req.messages, 80)}" from ` +
          `${observations.length} tool result(s); the last: ${last.length > 160 ? `${last.slice(0, 157)}...` : last}`;
      } else {
        // The first line of the prompt is the instruction; the rest is usually upstream material.
        const asked = lastUser(req.messages).trim();
        const instruction = (asked.split('\n')[0] ?? '').replace(/\s+/g, ' ').trim();
        const gist = instruction.length > 100 ? `${instruction.slice(0, 97)}...` : instruction;
        const words = asked.split(/\s+/).filter(Boolean).length;
        text = `[offline #${(seed % 10000).toString().padStart(4, '0')}] ${gist} (${words} words read)`;
      }
      // Streamed word by word like a real model (`wordDelayMs` apart, so the demo visibly streams).
      if (call.onDelta) {
        for (const piece of text ? text.split(/(?<=\s)/) : []) {
          if (wordDelayMs > 0) await abortableSleep(wordDelayMs, call.signal);
          call.onDelta({ type: 'text', text: piece });
        }
        toolCalls.forEach((c, index) =>
          call.onDelta!({
            type: 'tool_call',
            index,
            id: c.id,
            name: c.name,
            arguments: JSON.stringify(c.arguments),
          }),
        );
      }
      return {
        text,
        toolCalls,
        finishReason: toolCalls.length ? 'tool_calls' : 'stop',
        model: req.profile.model,
        usage: {
          inputTokens: roughTokens(prompt + toolText(req)),
          outputTokens: roughTokens(
            text + toolCalls.map((c) => c.name + JSON.stringify(c.arguments)).join(''),
          ),
          cachedInputTokens: 0,
        },
      };
    },
  };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
