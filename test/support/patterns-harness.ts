/**
 * A real worker for the pattern tests: examples/workflows.ts (the example user workflows, which
 * re-export Baton's own) with the tools a test file registers, and the real SDK clients pointed
 * at a fake model server. One per test file, on its own task queue.
 */
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import type { ToolDefinition } from '../../src/activities/tools';
import { BatonClient } from '../../src/client';
import { createWorker } from '../../src/worker';
import type { RunProgress } from '../../src/workflows/api';
import type { PatternRunResult } from '../../src/workflows/patterns';
import { FakeModelServer } from './fake-model-server';
import { fakeEnv } from './harness';
import { testTemporal, testLogLevel } from './temporal-env';

let bundlePromise: ReturnType<typeof bundleWorkflowCode> | undefined;

/** examples/workflows.ts bundled once per jest worker process. */
export function patternsBundle(): ReturnType<typeof bundleWorkflowCode> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../examples/workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundlePromise;
}

/** A failed pattern run, as the test sees it: the failure's type and message, and the progress it carried. */
export interface PatternFailure {
  type: string;
  message: string;
  progress?: RunProgress;
}

export interface PatternsHarness {
  fake: FakeModelServer;
  client: Client;
  /** Baton's client on the same task queue (for ensemble runs). */
  baton: BatonClient;
  taskQueue: string;
  /** Start a workflow of examples/workflows.ts. */
  start(workflow: string, input: unknown, workflowId?: string): Promise<WorkflowHandle>;
  /** Run one to its end. */
  run<T>(workflow: string, input: unknown, workflowId?: string): Promise<PatternRunResult<T>>;
  /** Run one that must fail; returns the failure. */
  runFailing(workflow: string, input: unknown, workflowId?: string): Promise<PatternFailure>;
  close(): Promise<void>;
}

let seq = 0;
export const uniqueId = (name: string) =>
  `${name}-${Date.now()}-${++seq}-${Math.random().toString(36).slice(2, 7)}`;

export async function startPatternsHarness(
  opts: { tools?: ToolDefinition[] } = {},
): Promise<PatternsHarness> {
  Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
  const { namespace, connectionOptions } = testTemporal();
  const fake = await FakeModelServer.start();
  const taskQueue = `patterns-${process.pid}-${Date.now()}-${++seq}`;
  const nativeConnection = await NativeConnection.connect(connectionOptions);
  const worker: Worker = await createWorker({
    connection: nativeConnection,
    namespace,
    taskQueue,
    env: fakeEnv(fake),
    workflowBundle: await patternsBundle(),
    ...(opts.tools && { tools: opts.tools }),
  });
  const running = worker.run();
  const connection = await Connection.connect(connectionOptions);
  const client = new Client({ connection, namespace });
  const baton = await BatonClient.connect({ connection, namespace, taskQueue });

  const start = (workflow: string, input: unknown, workflowId = uniqueId(workflow)) =>
    client.workflow.start(workflow, { taskQueue, workflowId, args: [input] });

  return {
    fake,
    client,
    baton,
    taskQueue,
    start,
    async run<T>(workflow: string, input: unknown, workflowId?: string) {
      const handle = await start(workflow, input, workflowId);
      return (await handle.result()) as PatternRunResult<T>;
    },
    async runFailing(workflow: string, input: unknown, workflowId?: string) {
      const handle = await start(workflow, input, workflowId);
      try {
        await handle.result();
      } catch (err) {
        if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
          const progress = err.cause.details?.[0] as RunProgress | undefined;
          return {
            type: err.cause.type ?? 'Error',
            message: err.cause.message,
            ...(progress && { progress }),
          };
        }
        throw err;
      }
      throw new Error(`workflow ${handle.workflowId} completed, but the test expected it to fail`);
    },
    async close() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await fake.close();
    },
  };
}
