/**
 * The batch model-call activity of a wide fan-out: many model calls run at once inside one
 * activity, each with its own retries, error classes and Retry-After. Each finished call's
 * result is recorded in the activity's heartbeat details (at most `flushMs` after it lands), so a
 * retry of the batch after a crash runs only the calls whose results the server never got.
 */
import { Context } from '@temporalio/activity';
import { setMaxListeners } from 'node:events';
import { ApplicationFailure } from '@temporalio/common';
import type {
  BatchCallOutcome,
  ModelBatchInput,
  ModelBatchResult,
  ModelRequest,
  ModelResponse,
} from '../types';
import { classifyProviderError, type ProviderErrorLike } from './errors';
import { costOf } from './cost';
import { checkReply, schemaProblem } from './json-schema';
import type { ProviderRegistry, ReplyDelta } from './providers';
import { CallPublisher, type EventBus } from '../streams';

/** How often a batch records finished calls when neither the step nor the worker says (BATON_BATCH_FLUSH_MS). */
export const DEFAULT_BATCH_FLUSH_MS = 1000;

/** What a batch records in its heartbeat details: every finished call's outcome, and which calls were in flight. */
export interface BatchHeartbeat {
  batch: 1;
  /** Finished calls by their index in the batch: an answer, or a failure no retry fixes. */
  done: Record<number, BatchCallOutcome>;
  /** Attempts that ended without an answer, by call index (billing; see model.ts). */
  unanswered: Record<number, number>;
  /** Calls whose request was sent and whose outcome was not yet recorded. */
  inFlight: number[];
}

function heartbeatOf(details: unknown): BatchHeartbeat {
  const d = details as Partial<BatchHeartbeat> | undefined;
  if (d?.batch !== 1) return { batch: 1, done: {}, unanswered: {}, inFlight: [] };
  return {
    batch: 1,
    done: { ...d.done },
    unanswered: { ...d.unanswered },
    inFlight: [...(d.inFlight ?? [])],
  };
}

/** The worker's default flush interval: BATON_BATCH_FLUSH_MS when set (milliseconds, 0 = at every landing). */
export function batchFlushMsFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.BATON_BATCH_FLUSH_MS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`BATON_BATCH_FLUSH_MS=${raw} is not a whole number of milliseconds (0 or more)`);
  return n;
}

/**
 * Run a batch of model calls. Never throws for one call's failure: each call's outcome is returned
 * by its index (a non-retryable error, or the last error once its attempts are used up). Throws
 * only when the activity itself is cancelled. With `events`, each call publishes its step events
 * and deltas under its own step name (`review[3]`, from the request), as a single call does.
 */
export async function runModelBatch(
  providers: ProviderRegistry,
  input: ModelBatchInput,
  workerFlushMs: number = DEFAULT_BATCH_FLUSH_MS,
  events?: EventBus,
): Promise<ModelBatchResult> {
  const ctx = Context.current();
  const publisher = events && publisherOf(ctx, events, input.streamRunId);
  // Every call's own signal listens on the activity's: as many listeners as calls and attempts.
  setMaxListeners(0, ctx.cancellationSignal);
  const flushMs = input.flushMs ?? workerFlushMs;
  const prior = heartbeatOf(ctx.info.heartbeatDetails);
  // A call in flight when the last attempt died may have been billed: count it as unanswered.
  for (const i of prior.inFlight) if (!prior.done[i]) prior.unanswered[i] = (prior.unanswered[i] ?? 0) + 1;
  const state: BatchHeartbeat = { batch: 1, done: prior.done, unanswered: prior.unanswered, inFlight: [] };
  const inFlight = new Set<number>();
  // What the server has (or is being sent): the keep-alive beats repeat it, so only a flush adds to it.
  let flushed: BatchHeartbeat = snapshot(state, inFlight);
  let dirty = false;
  const flush = () => {
    flushed = snapshot(state, inFlight);
    dirty = false;
    ctx.heartbeat(flushed);
  };
  flush();
  const timer = flushMs > 0 ? setInterval(() => dirty && flush(), flushMs) : undefined;
  const hbMs = ctx.info.heartbeatTimeoutMs;
  const alive = setInterval(() => ctx.heartbeat(flushed), hbMs ? Math.max(100, Math.floor(hbMs / 3)) : 1000);

  const land = (index: number, outcome: BatchCallOutcome) => {
    state.done[index] = outcome;
    inFlight.delete(index);
    dirty = true;
    if (flushMs === 0) flush();
  };
  // Sending a request is recorded at the next flush; a crash before it loses nothing but billing
  // knowledge of that attempt, which the retry's own worst-case count covers (see docs/scale.md).
  const send = (index: number) => {
    inFlight.add(index);
    dirty = true;
  };
  const answered = (index: number, unanswered: boolean) => {
    inFlight.delete(index);
    if (unanswered) state.unanswered[index] = (state.unanswered[index] ?? 0) + 1;
    dirty = true;
  };

  const todo = input.calls.map((_, i) => i).filter((i) => !state.done[i]);
  let next = 0;
  const lane = async () => {
    while (next < todo.length && !ctx.cancellationSignal.aborted) {
      const i = todo[next++]!;
      const outcome = await runOne(providers, ctx, input, i, send, answered, state, publisher);
      if (outcome) land(i, outcome);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, todo.length)) }, lane));
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
  } finally {
    if (timer) clearInterval(timer);
    clearInterval(alive);
  }
  return {
    outcomes: input.calls.map((_, i) => state.done[i]!),
    resumed: input.calls.length - todo.length,
  };
}

function snapshot(state: BatchHeartbeat, inFlight: Set<number>): BatchHeartbeat {
  return { batch: 1, done: { ...state.done }, unanswered: { ...state.unanswered }, inFlight: [...inFlight] };
}

/**
 * The events of one attempt of one call of the batch (docs/streaming.md). The first attempt says
 * step.started, a later one step.retrying; so does every call of a batch activity that is itself
 * retried (a lost worker), since the call may have streamed in the attempt before. `attempt` counts
 * the call's attempts within its batch activity's attempt, plus the batch's earlier attempts.
 */
/** `streamRunId`: the run the calls publish to when not the batch's workflow (a shard's calls: the run's). */
function publisherOf(ctx: Context, events: EventBus, streamRunId?: string) {
  const runId = streamRunId ?? ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId;
  const earlier = ctx.info.attempt - 1;
  return (index: number, req: ModelRequest, attempt: number): CallPublisher => {
    const stream = new CallPublisher(
      events,
      runId,
      {
        ...(req.step && { step: req.step }),
        attempt: attempt + earlier,
        call: `${ctx.info.activityId}/${index}`,
      },
      (m) => ctx.log.warn(m),
    );
    stream.emit(attempt + earlier > 1 ? 'step.retrying' : 'step.started');
    return stream;
  };
}

/** One call with its retries; undefined when the activity was cancelled under it. */
async function runOne(
  providers: ProviderRegistry,
  ctx: Context,
  input: ModelBatchInput,
  index: number,
  send: (i: number) => void,
  answered: (i: number, unanswered: boolean) => void,
  state: BatchHeartbeat,
  publisher: ReturnType<typeof publisherOf> | undefined,
): Promise<BatchCallOutcome | undefined> {
  const req = input.calls[index]!;
  const r = input.retry;
  const fail = (type: string, message: string): BatchCallOutcome => ({
    ok: false,
    error: { type, message },
    unansweredAttempts: state.unanswered[index] ?? 0,
  });
  let provider;
  try {
    provider = providers.get(req.profile);
  } catch (err) {
    const f = err as ApplicationFailure;
    return fail(f.type ?? 'ModelConfigError', f.message);
  }
  const problem = req.responseFormat && schemaProblem(req.responseFormat.schema);
  if (problem)
    return fail(
      'InvalidDefinition',
      `the output schema '${req.responseFormat!.name}' is not a valid JSON Schema: ${problem}`,
    );
  for (let attempt = 1; ; attempt++) {
    if (ctx.cancellationSignal.aborted) return undefined;
    const startedAt = Date.now();
    const signal = AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(input.callTimeoutMs)]);
    send(index);
    const stream = publisher?.(index, req, attempt);
    // A failure no retry fixes ends the call's stream (a retryable one is announced by the next attempt).
    const ended = async (type: string, message: string) => {
      stream?.emit('step.failed', { error: { type, message } });
      await stream?.flush();
    };
    const cancelled = async (err: unknown) => {
      await ended('Cancelled', err instanceof Error ? err.message : String(err));
      return undefined;
    };
    let delay: number;
    let last: BatchCallOutcome;
    try {
      const reply = await provider.complete(req, {
        signal,
        ...(stream && { onDelta: (d: ReplyDelta) => stream.delta(d) }),
      });
      answered(index, false);
      const res = responseOf(req, reply, startedAt, attempt, state.unanswered[index] ?? 0);
      stream?.emit('step.completed', {
        usage: res.usage,
        costUsd: res.costUsd,
        finishReason: res.finishReason,
      });
      // Stored before the call's result is recorded, so a watcher that sees the run end has every event.
      await stream?.flush();
      return { ok: true, res };
    } catch (err) {
      if (ctx.cancellationSignal.aborted) return cancelled(err);
      const e = err as ProviderErrorLike;
      const kind = `${e?.name ?? ''} ${(err as object | undefined)?.constructor?.name ?? ''}`;
      const timedOut = signal.aborted;
      // Only HTTP and connection errors (and this call's own timeout) are classified; anything else is a bug: the call fails with it.
      if (e?.status === undefined && !timedOut && !/Connection|Timeout|Abort/.test(kind)) {
        answered(index, true);
        const message = String((err as Error)?.message ?? err);
        await ended('ModelCallError', message);
        return fail('ModelCallError', message);
      }
      answered(index, e?.status === undefined);
      const c = timedOut
        ? {
            type: 'ModelTransientError',
            retryable: true,
            message: `the call took longer than its timeout of ${input.callTimeoutMs} ms`,
          }
        : classifyProviderError(e, req.profile.provider);
      last = fail(c.type, c.message);
      if (!c.retryable) {
        await ended(c.type, c.message);
        return last;
      }
      const backoff = Math.min(
        r.initialIntervalMs * Math.pow(r.backoffCoefficient, attempt - 1),
        r.maximumIntervalMs,
      );
      delay =
        'retryAfterMs' in c && c.retryAfterMs !== undefined && c.retryAfterMs > 0 ? c.retryAfterMs : backoff;
    }
    if (r.maximumAttempts > 0 && attempt >= r.maximumAttempts) {
      if (!last.ok) await ended(last.error.type, last.error.message);
      return last;
    }
    // What this attempt streamed is stored before the next attempt announces itself.
    await stream?.flush();
    try {
      await ctx.sleep(delay);
    } catch (err) {
      // Cancelled while waiting to retry: the call ends here.
      return cancelled(err);
    }
  }
}

function responseOf(
  req: ModelRequest,
  reply: Awaited<ReturnType<ReturnType<ProviderRegistry['get']>['complete']>>,
  startedAt: number,
  attempt: number,
  unanswered: number,
): ModelResponse {
  return {
    ...reply,
    costUsd: costOf(reply.usage, req.profile.pricing),
    provider: req.profile.provider,
    timing: { startedAt, endedAt: Date.now(), attempt },
    ...(req.responseFormat && { structured: checkReply(req.responseFormat.schema, reply.text) }),
    ...(unanswered > 0 && { unansweredAttempts: unanswered }),
  };
}

/** Used by tests and docs: the longest a finished call can wait before its result reaches the server. */
export function durabilityWindowMs(
  flushMs: number,
  heartbeatTimeoutMs: number,
  maxThrottleMs = 60_000,
): number {
  return flushMs + Math.min(Math.floor(heartbeatTimeoutMs * 0.8), maxThrottleMs);
}
