/**
 * The typed client backend services import: start runs (idempotently, by a run id you choose),
 * read progress, wait for results, cancel. The CLI and HTTP API are thin shells over it.
 */
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { EnsembleDefinition } from './types';
import { DEFAULT_TASK_QUEUE } from './worker';
import {
  RUN_WORKFLOW,
  progressQuery,
  type RunInput,
  type RunOptions,
  type RunProgress,
  type RunResult,
} from './workflows/api';

export type { RunInput, RunOptions, RunProgress, RunResult, StepProgress } from './workflows/api';

/** A run that ended in failure: which step failed, why, and every result it had. */
export class RunFailedError extends Error {
  override name = 'RunFailedError';
  constructor(
    readonly runId: string,
    readonly type: string,
    message: string,
    /** Progress at the moment of failure: completed steps keep their outputs. */
    readonly progress?: RunProgress,
  ) {
    super(`run ${runId} failed: ${message}`);
  }

  /** The step that failed, when a step did. */
  get step(): string | undefined {
    return this.progress?.error?.step;
  }
}

export interface StartOptions {
  /** Your id for the run. Starting again with the same id returns the existing run instead of a second one. */
  runId?: string;
  options?: RunOptions;
  /** Override the client's task queue for this run. */
  taskQueue?: string;
}

export interface BatonClientOptions {
  /** An open connection; otherwise one is made to `address`. */
  connection?: Connection;
  address?: string;
  namespace?: string;
  taskQueue?: string;
}

/** A handle to one run. */
export interface RunHandle {
  runId: string;
  /** Whether this call started the run (false: it already existed under that id). */
  started: boolean;
}

/**
 * The client for Baton runs.
 *
 * @example
 * const baton = await BatonClient.connect({ address: '127.0.0.1:7233' });
 * const { runId } = await baton.start(definition, 'Write about durable agents', { runId: 'order-42' });
 * const result = await baton.result(runId);
 */
export class BatonClient {
  readonly taskQueue: string;

  constructor(
    readonly temporal: Client,
    opts: { taskQueue?: string } = {},
    private readonly ownedConnection?: Connection,
  ) {
    this.taskQueue = opts.taskQueue ?? process.env.BATON_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
  }

  /** Connect to Temporal (default: TEMPORAL_ADDRESS, else 127.0.0.1:7233). */
  static async connect(opts: BatonClientOptions = {}): Promise<BatonClient> {
    const connection =
      opts.connection ??
      (await Connection.connect({ address: opts.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' }));
    const client = new Client({ connection, namespace: opts.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default' });
    return new BatonClient(client, opts.taskQueue ? { taskQueue: opts.taskQueue } : {}, opts.connection ? undefined : connection);
  }

  /** Start a run. With a `runId` that already names a run, returns that run instead of starting another. */
  async start(definition: EnsembleDefinition, input: string, opts: StartOptions = {}): Promise<RunHandle> {
    const runId = opts.runId ?? `${definition.name}-${crypto.randomUUID()}`;
    const args: RunInput = { definition, input, ...(opts.options && { options: opts.options }) };
    try {
      await this.temporal.workflow.start(RUN_WORKFLOW, {
        workflowId: runId,
        taskQueue: opts.taskQueue ?? this.taskQueue,
        args: [args],
        // A second start with the same id, running or ended, is refused; we answer with the existing run.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: { ensemble: definition.name, ...(definition.description && { description: definition.description }) },
        staticSummary: `${definition.name}: ${definition.steps.length} steps`,
      });
      return { runId, started: true };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { runId, started: false };
      throw err;
    }
  }

  /** Start a run and wait for its result. */
  async run(definition: EnsembleDefinition, input: string, opts: StartOptions = {}): Promise<RunResult> {
    const { runId } = await this.start(definition, input, opts);
    return this.result(runId);
  }

  /** Wait for a run's result; throws RunFailedError naming the failed step when it failed. */
  async result(runId: string): Promise<RunResult> {
    try {
      return (await this.handle(runId).result()) as RunResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const cause = err.cause;
        if (cause instanceof ApplicationFailure) {
          const progress = cause.details?.[0] as RunProgress | undefined;
          throw new RunFailedError(runId, cause.type ?? 'Error', cause.message, progress);
        }
        throw new RunFailedError(runId, cause?.name ?? 'Error', cause?.message ?? err.message);
      }
      throw err;
    }
  }

  /** Every step's status, output, timing and usage, while the run goes on or after it ended. */
  async progress(runId: string): Promise<RunProgress> {
    return this.handle(runId).query(progressQuery);
  }

  /** Ask a run to stop; running model calls are cancelled. */
  async cancel(runId: string): Promise<void> {
    await this.handle(runId).cancel();
  }

  /** The underlying Temporal handle, for what this client does not wrap. */
  handle(runId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(runId);
  }

  /** Close the connection this client opened (a connection passed in is left open). */
  async close(): Promise<void> {
    await this.ownedConnection?.close();
  }
}
