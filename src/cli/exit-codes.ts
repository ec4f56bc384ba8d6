/** Exit codes of the `baton` command, as documented in `baton --help` and the README. */
import { WorkflowNotFoundError } from '@temporalio/common';
import { EndpointSettingsError } from '../activities/endpoints';
import { InvalidRequestError, RunFailedError, ProgressUnavailableError } from '../client';
import { CodecKeyError } from '../codec';
import { UnknownProfileError } from '../config/profiles';
import { TemporalUnavailableError } from '../server';
import { LogSettingsError } from '../telemetry/logging';
import { MetricsSettingsError } from '../telemetry/metrics';
import { WorkerSettingsError } from '../worker';
import { TemporalUnreachableError } from './connect';
import { InterruptedError } from './lifecycle';

export const EXIT = {
  ok: 0,
  runFailed: 1,
  badInput: 2,
  temporalUnavailable: 3,
  internal: 4,
  interrupted: 130,
} as const;

/** Errors that mean the user's input was wrong (set by config loading and argument checks). */
export class BadInputError extends Error {
  override name = 'BadInputError';
}

/** Map an error to the exit code its kind documents. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof RunFailedError) return EXIT.runFailed;
  if ((err as Error)?.name === 'EvalFailedError') return EXIT.runFailed;
  if (
    err instanceof TemporalUnavailableError ||
    err instanceof TemporalUnreachableError ||
    err instanceof ProgressUnavailableError
  ) {
    return EXIT.temporalUnavailable;
  }
  if (err instanceof InterruptedError) return EXIT.interrupted;
  if (
    err instanceof BadInputError ||
    err instanceof UnknownProfileError ||
    err instanceof InvalidRequestError
  )
    return EXIT.badInput;
  if (
    err instanceof WorkerSettingsError ||
    err instanceof MetricsSettingsError ||
    err instanceof LogSettingsError ||
    err instanceof EndpointSettingsError ||
    err instanceof CodecKeyError
  )
    return EXIT.badInput;
  if (err instanceof WorkflowNotFoundError) return EXIT.badInput;
  const name = (err as Error)?.name;
  if (name === 'EnsembleError') return EXIT.badInput;
  // gRPC "unavailable" from the Temporal client, or the worker's (Rust) transport: nothing listens at the address.
  if (
    /UNAVAILABLE|ECONNREFUSED|ConnectionRefused|Failed to connect|transport error|tonic/i.test(
      String((err as Error)?.message),
    )
  ) {
    return EXIT.temporalUnavailable;
  }
  return EXIT.internal;
}

/** The error as the user should read it: its message, without a stack. */
export function oneLine(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
