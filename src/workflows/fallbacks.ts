/**
 * Fallback profiles: when a model call fails for good with one profile, the next profile of
 * `profile.fallbacks` is tried. The decision is taken here, in workflow code, and each profile's
 * call is its own activity: history shows which profile was tried, each call reserves its own
 * worst case in the ledger before it starts, and a replay takes the same path. Workflow code only.
 */
import { ActivityFailure, ApplicationFailure, patched, TimeoutFailure } from '@temporalio/workflow';
import { ModelErrorType, NON_RETRYABLE_MODEL_ERRORS } from '../error-types';
import type { ModelRequest, ModelResponse } from '../types';
import type { FallbackAttempt } from './api';
import type { RunState } from './run-state';

/** Marks runs whose model calls move on to fallback profiles (runs before it had none to move to). */
export const FALLBACK_PATCH = 'model-fallback-profiles';

/**
 * Failures that hand a call to the next profile: the provider refused it for good (key, quota,
 * request, worker setup, endpoint), or kept failing until the retry policy gave up (rate limits,
 * overload, 5xx, connection errors, timeouts). A cancelled or budget-stopped call never moves on.
 */
const HANDED_ON = new Set<string>([
  ...NON_RETRYABLE_MODEL_ERRORS,
  ModelErrorType.RateLimited,
  ModelErrorType.ServerError,
  ModelErrorType.Transient,
]);

/** Why a failed model call may go to the next profile, or undefined when it may not. */
export function fallbackReason(err: unknown): { type: string; message: string } | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && HANDED_ON.has(cause.type))
    return { type: cause.type, message: cause.message };
  if (cause instanceof TimeoutFailure)
    return { type: 'Timeout', message: `the call timed out (${cause.timeoutType}) on every attempt` };
  return undefined;
}

/**
 * Call with `req.profile`, then with each of its fallbacks in turn while the failure is one that
 * {@link fallbackReason} hands on. `call` is one model call with one profile (callModel: budget,
 * retries, usage). Each failed profile is recorded in the step's progress; the answer says which
 * profile answered (`profile`). The last profile's failure is the step's.
 */
export async function withFallbacks(
  state: RunState,
  stepName: string,
  req: ModelRequest,
  call: (req: ModelRequest) => Promise<ModelResponse>,
): Promise<ModelResponse> {
  const { fallbacks = [], ...primary } = req.profile;
  const chain = [primary, ...fallbacks.map(({ fallbacks: _nested, ...p }) => p)];
  for (let i = 0; ; i++) {
    const profile = chain[i]!;
    try {
      return await call({ ...req, profile });
    } catch (err) {
      const reason = fallbackReason(err);
      if (i + 1 >= chain.length || !reason || !patched(FALLBACK_PATCH)) throw err;
      const failed: FallbackAttempt = {
        profile: profile.name,
        provider: profile.provider,
        model: profile.model,
        error: reason,
        next: chain[i + 1]!.name,
      };
      state.recordFallback(stepName, failed);
    }
  }
}
