import type { Context } from '@temporalio/activity';

/**
 * Heartbeat while an activity waits on the world, often enough that a dead worker is noticed
 * within the heartbeat timeout; heartbeats are also how a cancel reaches a running activity.
 * Local activities have no heartbeats (their cancel comes with the workflow task). `details` gives
 * what each beat records (the next attempt reads it). Returns the stop.
 */
export function keepAlive(ctx: Context, details?: () => unknown): () => void {
  if (ctx.info.isLocal) return () => {};
  const timeout = ctx.info.heartbeatTimeoutMs;
  // Every beat carries the details (a beat without them would erase the ones recorded before).
  const beat = setInterval(
    () => ctx.heartbeat(details?.()),
    timeout ? Math.max(100, Math.floor(timeout / 3)) : 1000,
  );
  return () => clearInterval(beat);
}
