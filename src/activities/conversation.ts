/**
 * A ReAct agent's conversation in the payload store, so that workflow history holds a reference
 * and not the whole conversation again on every model call. The conversation is a chain of
 * segments (each the messages one call added, and the reference of the one before): storing a turn
 * costs that turn only. Bodies go through the encryption codec when BATON_CODEC_KEYS is set.
 */
import { codecFromEnv } from '../codec';
import { defaultPayloadDir, FileBlobStore, payloadStoreFromEnv, ValueStore } from '../payloads';
import type { ChatMessage, ConversationRef } from '../types';

interface Segment {
  prev: ConversationRef | null;
  messages: ChatMessage[];
}

/** Segments read recently, by key; a conversation's next call reads them again. */
const CACHE_CHARS = 64 * 1024 * 1024;

/**
 * Load and extend stored conversations.
 *
 * @example const ref = await conversations.keep(undefined, [{ role: 'user', content: 'hi' }]);
 */
export class ConversationStore {
  private readonly cache = new Map<string, { segment: Segment; chars: number }>();
  private cachedChars = 0;

  constructor(private readonly values: ValueStore) {}

  /** The store the worker environment configures (the default directory when BATON_PAYLOAD_STORE is off). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): ConversationStore {
    const settings = payloadStoreFromEnv(env);
    const codec = codecFromEnv(env) ?? codecFromEnv(process.env);
    const store = settings?.store ?? new FileBlobStore(defaultPayloadDir({ ...process.env, ...env }));
    return new ConversationStore(new ValueStore(store, codec ? [codec] : []));
  }

  /** Every message of a stored conversation, oldest first. */
  async load(ref: ConversationRef): Promise<ChatMessage[]> {
    const segments: Segment[] = [];
    let at: ConversationRef | null = ref;
    while (at) {
      const segment = await this.segment(at);
      segments.push(segment);
      at = segment.prev;
    }
    const out: ChatMessage[] = [];
    for (let i = segments.length - 1; i >= 0; i--) out.push(...segments[i]!.messages);
    return out;
  }

  /** Store `messages` after `earlier` and return the reference of the whole. */
  async keep(earlier: ConversationRef | undefined, messages: ChatMessage[]): Promise<ConversationRef> {
    const segment: Segment = { prev: earlier ?? null, messages };
    const chars = JSON.stringify(messages).length;
    const ref = await this.values.put(segment);
    this.remember(ref.$ref, segment, chars);
    return {
      ...ref,
      messages: (earlier?.messages ?? 0) + messages.length,
      chars: (earlier?.chars ?? 0) + chars,
    };
  }

  private async segment(ref: ConversationRef): Promise<Segment> {
    const hit = this.cache.get(ref.$ref);
    if (hit) return hit.segment;
    const segment = await this.values.get<Segment>(ref);
    this.remember(ref.$ref, segment, JSON.stringify(segment.messages).length);
    return segment;
  }

  private remember(key: string, segment: Segment, chars: number): void {
    if (this.cache.has(key)) return;
    this.cache.set(key, { segment, chars });
    this.cachedChars += chars;
    for (const [k, v] of this.cache) {
      if (this.cachedChars <= CACHE_CHARS) break;
      this.cache.delete(k);
      this.cachedChars -= v.chars;
    }
  }
}
