import {
  DEFAULT_RETENTION,
  type EventBus,
  type NewStreamEvent,
  type Retention,
  type StreamEvent,
} from './events';

interface RunLog {
  events: StreamEvent[];
  /** Sequence number of the last event appended. */
  seq: number;
  lastAt: number;
  waiters: Set<() => void>;
  once?: Set<string>;
}

/**
 * Events in this process's memory: what `baton run` and `baton demo` use, where the worker and the
 * client share a process. Ids are `<sequence>` per run. Runs idle longer than the retention TTL are
 * dropped when another event is published; each keeps at most `maxLen` events.
 */
export class MemoryEventBus implements EventBus {
  readonly kind = 'memory';
  private readonly runs = new Map<string, RunLog>();

  constructor(private readonly retention: Retention = DEFAULT_RETENTION) {}

  async publish(runId: string, events: NewStreamEvent[]): Promise<void> {
    const now = Date.now();
    this.sweep(now);
    let log = this.runs.get(runId);
    if (!log) this.runs.set(runId, (log = { events: [], seq: 0, lastAt: now, waiters: new Set() }));
    for (const e of events) log.events.push({ ...e, id: String(++log.seq) } as StreamEvent);
    if (log.events.length > this.retention.maxLen)
      log.events.splice(0, log.events.length - this.retention.maxLen);
    log.lastAt = now;
    const waiters = [...log.waiters];
    log.waiters.clear();
    for (const w of waiters) w();
  }

  async publishOnce(runId: string, key: string, event: NewStreamEvent): Promise<void> {
    const log = this.runs.get(runId);
    if (log?.once?.has(key)) return;
    await this.publish(runId, [event]);
    (this.runs.get(runId)!.once ??= new Set()).add(key);
  }

  async read(
    runId: string,
    after: string | undefined,
    opts: { blockMs: number; signal?: AbortSignal; count?: number },
  ): Promise<StreamEvent[]> {
    const from = cursorNumber(after);
    const take = () => {
      const log = this.runs.get(runId);
      if (!log) return [];
      // Ids are consecutive, so the position of `from` is known without a search.
      const first = log.events.length ? Number(log.events[0]!.id) : log.seq + 1;
      const start = Math.max(0, from + 1 - first);
      return log.events.slice(start, start + (opts.count ?? 1000));
    };
    const now = take();
    if (now.length || opts.blockMs <= 0 || opts.signal?.aborted) return now;
    let log = this.runs.get(runId);
    if (!log) this.runs.set(runId, (log = { events: [], seq: 0, lastAt: Date.now(), waiters: new Set() }));
    const waiters = log.waiters;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, opts.blockMs);
      waiters.add(done);
      opts.signal?.addEventListener('abort', done, { once: true });
    });
    return take();
  }

  async close(): Promise<void> {}

  private sweep(now: number): void {
    for (const [id, log] of this.runs)
      if (now - log.lastAt > this.retention.ttlSeconds * 1000 && log.waiters.size === 0) this.runs.delete(id);
  }
}

function cursorNumber(after: string | undefined): number {
  if (!after) return 0;
  const n = Number(after);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidCursorError(
      `'${after}' is not an event id of this stream (in-process ids are whole numbers)`,
    );
  return n;
}

/** A resume cursor (`after`, Last-Event-ID) that is not an id this transport gave out. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}
