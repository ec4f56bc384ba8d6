/** Exit codes of the `baton` command, as documented in `baton --help` and the README. */
import type * as Common from '@temporalio/common';
import type * as Endpoints from '../activities/endpoints';
import type * as Client from '../client';
import type * as Codec from '../codec';
import type * as Profiles from '../config/profiles';
import type * as Server from '../server';
import type * as Logging from '../telemetry/logging';
import type * as Metrics from '../telemetry/metrics';
import type * as WorkerModule from '../worker';
import type * as Connect from './connect';
import type * as Lifecycle from './lifecycle';

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
  // The error classes' modules are loaded here, not at start: `baton worker` does not load the client's code.
  const { WorkflowNotFoundError } = require('@temporalio/common') as typeof Common;
  const { EndpointSettingsError } = require('../activities/endpoints') as typeof Endpoints;
  const { InvalidRequestError, RunFailedError, ProgressUnavailableError } =
    require('../client') as typeof Client;
  const { CodecKeyError } = require('../codec') as typeof Codec;
  const { UnknownProfileError } = require('../config/profiles') as typeof Profiles;
  const { TemporalUnavailableError } = require('../server') as typeof Server;
  const { LogSettingsError } = require('../telemetry/logging') as typeof Logging;
  const { MetricsSettingsError } = require('../telemetry/metrics') as typeof Metrics;
  const { WorkerSettingsError } = require('../worker') as typeof WorkerModule;
  const { TemporalUnreachableError } = require('./connect') as typeof Connect;
  const { InterruptedError } = require('./lifecycle') as typeof Lifecycle;
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
