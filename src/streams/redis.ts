import type Redis from 'ioredis';
import {
  DEFAULT_RETENTION,
  type EventBus,
  type NewStreamEvent,
  type Retention,
  type StreamEvent,
} from './events';
import { InvalidCursorError } from './memory';

/** The Redis key of a run's stream. */
export const streamKey = (runId: string) => `baton:events:${runId}`;

/**
 * Events in Redis Streams, for workers and clients in different processes or hosts: one stream per
 * run (`baton:events:<runId>`), XADD with approximate MAXLEN trimming and a TTL renewed on every
 * publish, XREAD BLOCK for readers. Ids are Redis stream ids (`<ms>-<seq>`), which readers pass
 * back to resume.
 */
export class RedisEventBus implements EventBus {
  readonly kind = 'redis';
  private readonly writer: Redis;
  /** Idle connections for blocking reads (XREAD BLOCK holds its connection). */
  private readonly idle: Redis[] = [];
  private closed = false;

  constructor(
    readonly url: string,
    private readonly retention: Retention = DEFAULT_RETENTION,
  ) {
    this.writer = connect(url);
  }

  async publish(runId: string, events: NewStreamEvent[]): Promise<void> {
    if (!events.length) return;
    const key = streamKey(runId);
    const p = this.writer.pipeline();
    for (const e of events)
      p.xadd(key, 'MAXLEN', '~', String(this.retention.maxLen), '*', 'e', JSON.stringify(e));
    p.expire(key, this.retention.ttlSeconds);
    const results = (await p.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  async publishOnce(runId: string, key: string, event: NewStreamEvent): Promise<void> {
    const first = await this.writer.set(
      `${streamKey(runId)}:once:${key}`,
      '1',
      'EX',
      this.retention.ttlSeconds,
      'NX',
    );
    if (first === 'OK') await this.publish(runId, [event]);
  }

  async read(
    runId: string,
    after: string | undefined,
    opts: { blockMs: number; signal?: AbortSignal; count?: number },
  ): Promise<StreamEvent[]> {
    const from = after && after !== '0' ? after : '0-0';
    if (!/^\d+-\d+$/.test(from))
      throw new InvalidCursorError(
        `'${after}' is not an event id of this stream (Redis stream ids look like 1700000000000-0)`,
      );
    const count = String(opts.count ?? 1000);
    const key = streamKey(runId);
    if (opts.signal?.aborted) return [];
    if (opts.blockMs <= 0) return parse(runId, await this.writer.xread('COUNT', count, 'STREAMS', key, from));
    const conn = this.idle.pop() ?? this.writer.duplicate();
    // An abort cannot interrupt XREAD BLOCK on its connection: drop the connection instead.
    const onAbort = () => conn.disconnect();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await conn.xread('COUNT', count, 'BLOCK', opts.blockMs, 'STREAMS', key, from);
      return parse(runId, reply);
    } catch (err) {
      if (opts.signal?.aborted) return [];
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted || this.closed) conn.disconnect();
      else this.idle.push(conn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.disconnect();
    await this.writer.quit().catch(() => this.writer.disconnect());
  }
}

function connect(url: string): Redis {
  // ioredis is loaded when a bus first connects, not by every process that imports Baton.
  const { default: RedisClient } = require('ioredis') as typeof import('ioredis');
  return new RedisClient(url, {
    // A reader waits in XREAD BLOCK; commands queued while Redis is away fail after a few tries
    // instead of piling up, so a model call never waits on its stream.
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    // Nothing is opened until the first event is published or read.
    lazyConnect: true,
  });
}

type XReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

function parse(runId: string, reply: XReadReply): StreamEvent[] {
  const entries = reply?.[0]?.[1] ?? [];
  const out: StreamEvent[] = [];
  for (const [id, fields] of entries) {
    const i = fields.indexOf('e');
    if (i < 0 || i + 1 >= fields.length) continue;
    try {
      out.push({ ...(JSON.parse(fields[i + 1]!) as NewStreamEvent), id, runId });
    } catch {
      // Not ours (someone wrote to the key by hand): skip it rather than end the stream.
    }
  }
  return out;
}
