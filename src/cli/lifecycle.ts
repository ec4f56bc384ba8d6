/**
 * What commands that own resources (`baton run`, `baton demo` and `baton eval`: a dev server, a
 * worker in this process, connections) need to stop cleanly: Ctrl-C handling, a watched local
 * worker, and a cleanup where one failing step does not skip the others.
 */
import type { NativeConnection, NativeConnectionOptions, Worker } from '@temporalio/worker';
import { BatonClient } from '../client';
import { dataConverterFromEnv } from '../codec';
import { acquireTemporal, type TemporalConnectionOptions, type TemporalHandle } from '../server';
import { createWorker, DEFAULT_TASK_QUEUE, type BatonWorkerOptions } from '../worker';
import { configuredTemporal, connectExisting, connectNative } from './connect';

/** The command was stopped by SIGINT or SIGTERM (exit code 130). */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

/** The worker a command runs in its own process stopped by itself. */
export class LocalWorkerError extends Error {
  override name = 'LocalWorkerError';
}

export interface InterruptTrap {
  /** Aborted, with an InterruptedError as its reason, by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Rejects with the InterruptedError; race the command's work against it. */
  interrupted: Promise<never>;
  /** Stop listening (the process gets Node's default handling back). */
  dispose(): void;
}

/**
 * Until disposed, the first SIGINT or SIGTERM aborts the command's work so that it can clean up;
 * a second one exits at once (through process.exit, so a dev server we started is still killed).
 */
export function trapInterrupt(): InterruptTrap {
  const controller = new AbortController();
  const interrupted = new Promise<never>((_, reject) =>
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
      once: true,
    }),
  );
  interrupted.catch(() => {}); // a rejection nobody raced is not an error
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) return controller.abort(new InterruptedError(signal));
    process.stderr.write('baton: interrupted again; exiting without waiting for cleanup\n');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    interrupted,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export interface LocalWorker {
  /** The worker's connection: a client made on it starts runs eagerly (closed by `stop`, after the worker). */
  connection: NativeConnection;
  /** Rejects with a LocalWorkerError if the worker stops before `stop()`; race the command's work against it. */
  crashed: Promise<never>;
  /** Shut the worker down (once, and only if it runs), wait for it, close its connection. */
  stop: () => Promise<void>;
}

/**
 * Connect and start a worker in this process. Its `run()` is observed at once, so a crash becomes
 * `crashed` (one line for the user), never an unhandled rejection.
 */
export async function startLocalWorker(
  connectionOptions: NativeConnectionOptions & { address: string },
  opts: Omit<BatonWorkerOptions, 'connection'>,
): Promise<LocalWorker> {
  const connection = await connectNative(connectionOptions);
  let worker: Worker;
  try {
    // A local worker belongs to one command: Ctrl-C stops it at once (no drain) unless told otherwise;
    // on a lasting server, a `baton worker` picks the run up.
    worker = await createWorker({ shutdownGraceTime: 0, ...opts, connection });
  } catch (e) {
    await connection.close().catch(() => {});
    throw e;
  }
  let stopping = false;
  let failure: Error | undefined;
  let crash!: (e: Error) => void;
  const crashed = new Promise<never>((_, reject) => (crash = reject));
  crashed.catch(() => {}); // a rejection nobody raced is not an error
  const running = worker.run().then(
    () => {
      if (!stopping) crash(new LocalWorkerError('the local worker stopped before the run ended'));
    },
    (e: Error) => {
      const error = new LocalWorkerError(`the local worker failed: ${e.message}`);
      if (stopping) failure = error;
      else crash(error);
    },
  );
  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    stopping = true;
    try {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    } finally {
      await connection.close();
    }
    // A failure while shutting down reaches nobody through `crashed`: say it here.
    if (failure) throw failure;
  };
  return { connection, crashed, stop: () => (stopped ??= stop()) };
}

/**
 * Run each cleanup step on its own, so one failing does not skip the rest; failures are printed
 * as warnings (the command's own outcome is what its exit code says).
 */
export async function closeAll(
  steps: [what: string, step: (() => Promise<unknown>) | undefined][],
): Promise<void> {
  for (const [what, step] of steps) {
    if (!step) continue;
    try {
      await step();
    } catch (e) {
      process.stderr.write(`baton: warning: ${what}: ${(e as Error).message}\n`);
    }
  }
}

/** What the worker a command runs in its own process is given (the session adds connection, namespace and task queue). */
export type LocalWorkerOptions = Omit<BatonWorkerOptions, 'connection' | 'namespace' | 'taskQueue'>;

/**
 * What `baton run` and `baton eval` open and must let go of: a Temporal server (an existing one
 * when TEMPORAL_ADDRESS is set, else a dev server for this command), a client, and maybe a worker
 * in this process. `until` ends a wait early on Ctrl-C or when the local worker crashes (a run
 * would wait for it forever); `close` lets go of whatever was opened, in order.
 */
export class CommandSession {
  readonly trap = trapInterrupt();
  temporal?: TemporalHandle;
  worker?: LocalWorker;
  private client?: BatonClient;

  until<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.trap.interrupted, ...(this.worker ? [this.worker.crashed] : [])]);
  }

  /**
   * Connect: to TEMPORAL_ADDRESS's server when `external`, else to a dev server started here.
   * With `worker`, a worker starts in this process first and the client is made on its
   * connection, so the runs it starts start eagerly (their first workflow task goes straight to
   * that worker, not through the task queue).
   */
  async connect(o: {
    external: boolean;
    taskQueue?: string;
    log: (line: string) => void;
    /** Told once a dev server was started for this command. */
    onDevServer?: (temporal: TemporalHandle) => void;
    /** Start a worker in this process, and make the client on its connection. */
    worker?: LocalWorkerOptions;
  }): Promise<BatonClient> {
    if (o.worker) return this.connectWithWorker({ ...o, worker: o.worker });
    if (o.external) {
      this.client = await this.until(connectExisting(o.taskQueue ? { taskQueue: o.taskQueue } : {}));
      return this.client;
    }
    const temporal = await this.devServer(o);
    this.client = await this.until(
      BatonClient.connect({
        address: temporal.address,
        namespace: temporal.namespace,
        ...(o.taskQueue && { taskQueue: o.taskQueue }),
      }),
    );
    return this.client;
  }

  private async devServer(o: {
    log: (line: string) => void;
    onDevServer?: (temporal: TemporalHandle) => void;
  }): Promise<TemporalHandle> {
    const temporal = (this.temporal = await this.until(acquireTemporal({ log: o.log })));
    o.onDevServer?.(temporal);
    return temporal;
  }

  private async connectWithWorker(o: {
    external: boolean;
    taskQueue?: string;
    log: (line: string) => void;
    onDevServer?: (temporal: TemporalHandle) => void;
    worker: LocalWorkerOptions;
  }): Promise<BatonClient> {
    // BATON_CODEC_KEYS is checked before anything connects: a bad key is bad input, not a network problem.
    const dataConverter = dataConverterFromEnv(process.env);
    let connectionOptions: TemporalConnectionOptions;
    let namespace: string;
    if (o.external) {
      const configured = configuredTemporal();
      connectionOptions = configured.options as TemporalConnectionOptions;
      namespace = configured.namespace;
    } else {
      const temporal = await this.devServer(o);
      connectionOptions = temporal.connectionOptions;
      namespace = temporal.namespace;
    }
    // The task queue the client would pick by itself (BatonClient's default).
    const taskQueue = o.taskQueue ?? process.env.BATON_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
    this.worker = await this.until(
      startLocalWorker(connectionOptions, { namespace, taskQueue, ...o.worker }),
    );
    // The client does not own the worker's connection: `close` closes it after the worker stops.
    this.client = await this.until(
      BatonClient.connect({
        connection: this.worker.connection,
        namespace,
        taskQueue,
        ...(dataConverter && { dataConverter }),
      }),
    );
    return this.client;
  }

  /**
   * Let go in order: the client first (its event streams end; a connection of its own closes),
   * then the worker and its connection (which the client may have used), then the dev server.
   */
  async close(): Promise<void> {
    const { worker, client, temporal } = this;
    await closeAll([
      ['closing the client', client && (() => client.close())],
      ['stopping the local worker', worker?.stop],
      ['stopping the dev server', temporal && (() => temporal.stop())],
    ]);
    this.trap.dispose();
  }
}
