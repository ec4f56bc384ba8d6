/**
 * Out-of-band run events (docs/streaming.md): model calls publish deltas and step events here,
 * clients read them with a resume cursor. In one process they go through memory; across processes
 * through Redis Streams when BATON_REDIS_URL (or REDIS_URL) is set.
 */
import { DEFAULT_RETENTION, type EventBus, type Retention } from './events';
import { MemoryEventBus } from './memory';
import { RedisEventBus } from './redis';
import { redisUrlFromEnv } from './redis-server';

export * from './events';
export { MemoryEventBus, InvalidCursorError } from './memory';
export { RedisEventBus, streamKey } from './redis';
export { CallPublisher } from './publisher';
export { followRun, type FollowOptions, type RunWatch, type RunDetails } from './follow';
export {
  acquireRedis,
  redisUrlFromEnv,
  findRedisServer,
  startRedisServer,
  RedisUnavailableError,
  type RedisHandle,
} from './redis-server';

/** A stream setting from the environment is not usable; the message names it. */
export class StreamSettingsError extends Error {
  override name = 'StreamSettingsError';
}

/** Retention from BATON_STREAM_TTL_SECONDS and BATON_STREAM_MAXLEN (defaults: 1 day, 50,000 events a run). */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): Retention {
  const int = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new StreamSettingsError(`${name}=${raw} is not a positive whole number`);
    return n;
  };
  return {
    ttlSeconds: int('BATON_STREAM_TTL_SECONDS', DEFAULT_RETENTION.ttlSeconds),
    maxLen: int('BATON_STREAM_MAXLEN', DEFAULT_RETENTION.maxLen),
  };
}

let local: MemoryEventBus | undefined;
const shared = new Map<string, RedisEventBus>();

/**
 * The event bus of this process: Redis Streams at BATON_REDIS_URL / REDIS_URL when set, else one
 * in-memory bus shared by every worker and client of this process. One per address, shared.
 *
 * @example const bus = eventBusFromEnv(); await bus.publish(runId, [{ type: 'text.delta', ... }]);
 */
export function eventBusFromEnv(env: NodeJS.ProcessEnv = process.env): EventBus {
  const url = redisUrlFromEnv(env);
  const retention = retentionFromEnv(env);
  if (!url) return (local ??= new MemoryEventBus(retention));
  let bus = shared.get(url);
  if (!bus) shared.set(url, (bus = new RedisEventBus(url, retention)));
  return bus;
}

/** Closes the shared buses' connections (a short-lived process calls it before exiting). */
export async function closeSharedEventBuses(): Promise<void> {
  const buses = [...shared.values()];
  shared.clear();
  await Promise.all(buses.map((b) => b.close()));
}
