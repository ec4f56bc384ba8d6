import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  isCancellation,
} from '@temporalio/workflow';

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
