/**
 * Batch fan-out (docs/scale.md): a wide fan-out's model calls grouped into batch activities that
 * run many calls at once, so the server sees a few activities instead of one per call. Money stays
 * per call: each call of a batch is reserved on the run's ledger before the batch starts (a batch
 * holds only the calls that fit), and each is settled to its own usage. Workflow code only.
 */
import type { Duration as TemporalDuration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { ActivityFailure, ApplicationFailure, TimeoutFailure, proxyActivities } from '@temporalio/workflow';
import type { createModelActivities } from '../activities/model';
import { NON_RETRYABLE_MODEL_ERRORS } from '../error-types';
import type { AgentStep, BatchCallOutcome, ModelRequest, ModelResponse } from '../types';
import type { RunOptions } from './api';
import { acquire, moneyOf, worstCaseOf, type Money, type Reservation } from './ledger';
import type { RunState } from './run-state';
import { activityCheck, agentMessages, callModel, withRepairs } from './step';
import type { TemplateScope } from './template';

type ModelActivities = ReturnType<typeof createModelActivities>;

/** Marks runs whose fan-outs with `batch` run as batch activities; older runs replay one activity per instance. */
export const BATCH_FAN_OUT_PATCH = 'baton-batch-fan-out';

/** A batch's requests, and its calls' worst-case replies, stay under this (a payload is limited to 2 MB). */
export const MAX_BATCH_CHARS = 1_500_000;
/** Characters a reply may take per output token, for the size of a batch's result. */
const REPLY_CHARS_PER_TOKEN = 4;
const DEFAULT_OUTPUT_TOKENS = 4096;

const DEFAULTS = {
  timeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
} as const;

const ms = (d: string | number) => msToNumber(d as Parameters<typeof msToNumber>[0]);

/** Size of one call in a batch: its request, and the most its reply may take. */
function charsOf(req: ModelRequest): { sent: number; reply: number } {
  return {
    sent: JSON.stringify(req).length,
    reply: (req.profile.maxTokens ?? DEFAULT_OUTPUT_TOKENS) * REPLY_CHARS_PER_TOKEN + 1000,
  };
}

interface Slot {
  index: number;
  req: ModelRequest;
  worst: Money;
  reservation: Reservation | undefined;
}

/**
 * Run a fan-out step's instances (one rendered scope each) as batch activities and return each
 * instance's output in order. `limit`: calls in flight at once across the step (max_concurrency).
 * Fails fast like `parallel`: after a failed call no new batch starts, the running ones finish,
 * and the first failure (the instance's index in its message) is thrown.
 */
export async function runBatchFanOut(
  state: RunState,
  key: string,
  step: AgentStep,
  scopes: TemplateScope[],
  options: RunOptions | undefined,
  limit: number | undefined,
  /** Each scope's index among the step's items (a shard's items; docs/scale.md). */
  indexOf: (i: number) => number = (i) => i,
  /** Outputs land here as they come, also when the fan-out fails (a shard reports what it finished). */
  outputs: string[] = new Array<string>(scopes.length),
): Promise<string[]> {
  const batch = step.fanOut!.batch!;
  const n = scopes.length;
  const reqs = scopes.map((scope) => {
    const req: ModelRequest = { profile: step.profile, messages: agentMessages(step, scope) };
    if (step.outputSchema) req.responseFormat = { name: 'output', schema: step.outputSchema };
    return req;
  });
  const concurrency = Math.max(1, Math.min(limit ?? n, n || 1));
  const perBatch = Math.max(1, Math.min(batch.size, concurrency));
  const lanes = Math.max(1, Math.floor(concurrency / perBatch));
  let next = 0;
  let failed: { error: unknown } | undefined;

  const r = { ...DEFAULTS.retry, ...step.retry };
  const callTimeout = step.timeout ?? step.profile.timeout ?? options?.defaultTimeout ?? DEFAULTS.timeout;
  const callTimeoutMs = ms(callTimeout);
  const attempts = r.maximumAttempts > 0 ? r.maximumAttempts : 10;
  const retry = {
    initialIntervalMs: ms(r.initialInterval),
    backoffCoefficient: r.backoffCoefficient,
    maximumIntervalMs: ms(r.maximumInterval),
    maximumAttempts: r.maximumAttempts,
  };

  const runOne = async (slots: Slot[]): Promise<void> => {
    const first = indexOf(slots[0]!.index);
    const last = indexOf(slots[slots.length - 1]!.index);
    const acts = proxyActivities<ModelActivities>({
      // Every call may use all its attempts, each up to its timeout and the longest backoff.
      startToCloseTimeout: attempts * (callTimeoutMs + retry.maximumIntervalMs) + 60_000,
      heartbeatTimeout: (options?.heartbeatTimeout ?? DEFAULTS.heartbeatTimeout) as TemporalDuration,
      // Retries of the batch itself are for lost workers; each call's own retries run inside it.
      retry: {
        initialInterval: '1 second',
        maximumAttempts: attempts,
        nonRetryableErrorTypes: NON_RETRYABLE_MODEL_ERRORS,
      },
      summary: first === last ? `${key}[${first}]` : `${key}[${first}..${last}]`,
    });
    let outcomes: BatchCallOutcome[];
    try {
      const res = await acts.callModelBatch({
        // Each call streams its events under its instance's name, as a non-batched instance does (`review[3]`).
        calls: slots.map((s) => ({ ...s.req, step: `${key}[${indexOf(s.index)}]` })),
        ...(options?.streamRunId !== undefined && { streamRunId: options.streamRunId }),
        concurrency: slots.length,
        ...(batch.flushMs !== undefined && { flushMs: batch.flushMs }),
        callTimeoutMs,
        retry,
      });
      outcomes = res.outcomes;
    } catch (err) {
      // The batch itself failed (cancelled, or its worker lost every attempt): calls it recorded as
      // answered cost what they cost; every other call may have been billed, at its worst case.
      const done = recordedOf(err);
      for (const [j, s] of slots.entries()) {
        const o = done[j];
        state.ledger.settle(s.reservation, o?.ok ? moneyOf(o.res.usage, o.res.costUsd) : s.worst);
      }
      throw err;
    }
    for (const [j, s] of slots.entries()) {
      const o = outcomes[j]!;
      if (!o.ok) {
        state.ledger.settle(s.reservation, times(o.unansweredAttempts, s.worst));
        failed ??= {
          error: ApplicationFailure.create({
            type: o.error.type,
            nonRetryable: true,
            message: `instance ${indexOf(s.index)}: ${o.error.message}`,
          }),
        };
        continue;
      }
      state.ledger.settle(
        s.reservation,
        plus(moneyOf(o.res.usage, o.res.costUsd), times(o.res.unansweredAttempts ?? 0, s.worst)),
      );
      state.record(key, o.res);
    }
    // Structured replies that do not fit are asked again one by one, as a single call would be.
    for (const [j, s] of slots.entries()) {
      const o = outcomes[j]!;
      if (!o.ok) continue;
      outputs[s.index] = await outputOf(
        state,
        key,
        step,
        s.req,
        o.res,
        options,
        `${key}[${indexOf(s.index)}]`,
      );
    }
  };

  const lane = async (): Promise<void> => {
    while (next < n && !failed) {
      const first = next++;
      const slots: Slot[] = [];
      try {
        const worst = worstCaseOf(reqs[first]!);
        checkSize(key, indexOf(first), reqs[first]!);
        // The first call of a batch waits for money like any call (and at the budget gate).
        slots.push({ index: first, req: reqs[first]!, worst, reservation: await acquire(state, key, worst) });
        let size = charsOf(reqs[first]!);
        // The others join only while they fit beside it: a batch never holds a call the budget cannot pay.
        while (slots.length < perBatch && next < n && !failed) {
          const req = reqs[next]!;
          const c = charsOf(req);
          if (size.sent + c.sent > MAX_BATCH_CHARS || size.reply + c.reply > MAX_BATCH_CHARS) break;
          if (state.ledger.gate || state.ledger.stopped) break;
          const w = worstCaseOf(req);
          const reservation = state.ledger.tryReserve(w);
          if (!reservation) break;
          slots.push({ index: next++, req, worst: w, reservation });
          size = { sent: size.sent + c.sent, reply: size.reply + c.reply };
        }
        state.gates.assertRunning(`step '${key}' made no further model call`);
        if (failed) {
          // Another batch failed while this one waited for money: it does not start.
          for (const s of slots) state.ledger.release(s.reservation);
          return;
        }
      } catch (error) {
        for (const s of slots) state.ledger.release(s.reservation);
        failed ??= { error };
        return;
      }
      try {
        await runOne(slots);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, Math.max(1, n)) }, lane));
  if (failed) throw failed.error;
  return outputs;
}

function checkSize(key: string, index: number, req: ModelRequest): void {
  const size = JSON.stringify(req).length;
  if (size > MAX_BATCH_CHARS)
    throw ApplicationFailure.create({
      type: 'PromptTooLarge',
      nonRetryable: true,
      message: `the model request of step '${key}' instance ${index} is ${size} characters, over the ${MAX_BATCH_CHARS} a Temporal payload can carry; shorten its prompt or the item`,
    });
}

async function outputOf(
  state: RunState,
  key: string,
  step: AgentStep,
  req: ModelRequest,
  res: ModelResponse,
  options: RunOptions | undefined,
  /** The instance's name (`each[3]`): its repair calls' activity summary and streamed step name. */
  summary: string,
): Promise<string> {
  if (!req.responseFormat) return res.text;
  let first = true;
  const { res: last, checked } = await withRepairs(
    key,
    req.messages,
    (messages) => {
      if (first) {
        first = false;
        return Promise.resolve(res);
      }
      return callModel(
        state,
        key,
        { ...req, messages },
        {
          ...(step.timeout !== undefined && { timeout: step.timeout }),
          ...(step.retry && { retry: step.retry }),
          ...(options && { options }),
          summary,
        },
      );
    },
    activityCheck,
    step.outputRepairs,
  );
  return checked.ok ? checked.value : last.text;
}

/** Outcomes a failed batch had recorded in its last heartbeat (by index in the batch). */
function recordedOf(err: unknown): Record<number, BatchCallOutcome> {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof TimeoutFailure) {
    const d = cause.lastHeartbeatDetails as
      { batch?: number; done?: Record<number, BatchCallOutcome> } | undefined;
    if (d?.batch === 1 && d.done) return d.done;
  }
  return {};
}

function times(n: number, m: Money): Money {
  return { tokens: n * m.tokens, costUsd: Math.round(n * m.costUsd * 1e8) / 1e8 };
}

function plus(a: Money, b: Money): Money {
  return { tokens: a.tokens + b.tokens, costUsd: Math.round((a.costUsd + b.costUsd) * 1e8) / 1e8 };
}
