import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  ContinueAsNew,
  isCancellation,
} from '@temporalio/workflow';
import { BUDGET_EXCEEDED, STEP_FAILED } from './api';
import type { RunState } from './run-state';

/** A step's failure as progress and results show it: a type to match on and the provider's own words. */
export interface StepErrorInfo {
  type: string;
  message: string;
}

/** Thrown out of a graph when one of its steps failed; keeps the innermost step's name. */
export class StepError extends Error {
  override name = 'StepError';
  constructor(
    readonly step: string,
    readonly info: StepErrorInfo,
    readonly original: unknown,
  ) {
    super(`step '${step}' failed: ${info.message}`);
  }
}

/** Dig the meaningful type and message out of an activity or child workflow failure. */
export function describeError(err: unknown): StepErrorInfo {
  if (err instanceof StepError) return err.info;
  let e: unknown = err;
  // ActivityFailure / ChildWorkflowFailure only say "activity failed"; the cause says why.
  while ((e instanceof ActivityFailure || e instanceof ChildWorkflowFailure) && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return { type: e.type ?? 'Error', message: e.message };
  if (isCancellation(e)) return { type: 'Cancelled', message: 'cancelled' };
  if (e instanceof Error) return { type: e.name, message: e.message };
  return { type: 'Error', message: String(e) };
}

/**
 * What a run throws when its work failed: cancellation and continue-as-new pass through as they
 * are; anything else becomes a non-retryable failure that names the step and carries every result
 * the run had (so nothing is lost and a retry can reuse them).
 */
export function failRun(state: RunState, err: unknown): unknown {
  if (isCancellation(err) || err instanceof ContinueAsNew) return err;
  if (err instanceof StepError && isCancellation(err.original)) return err.original;
  const info = describeError(err);
  const step = err instanceof StepError ? err.step : undefined;
  state.status = 'failed';
  state.error = { ...(step && { step }), ...info };
  // Gates still waiting end as released (shown in decisions); none can be decided any more.
  state.halt(step ? `step '${step}' failed` : info.message, new Date().toISOString());
  return ApplicationFailure.create({
    type: info.type === BUDGET_EXCEEDED ? BUDGET_EXCEEDED : STEP_FAILED,
    nonRetryable: true,
    message: step ? `step '${step}' failed: ${info.message}` : info.message,
    details: [state.bounded()],
  });
}
