/**
 * A real worker for the pattern tests: examples/workflows.ts (the example user workflows, which
 * re-export Baton's own) with the tools a test file registers, and the real SDK clients pointed
 * at a fake model server. One per test file, on its own task queue.
 */
import { Client, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ToolDefinition } from '../../src/activities/tools';
import type { BatonClient } from '../../src/client';
import type { RunProgress } from '../../src/workflows/api';
import type { PatternRunResult } from '../../src/workflows/patterns';
import type { FakeModelServer } from './fake-model-server';
import { bundleFor, startHarness } from './harness';

/** examples/workflows.ts bundled once per jest worker process. */
export function patternsBundle(): ReturnType<typeof bundleFor> {
  return bundleFor(require.resolve('../../examples/workflows'));
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

/** A harness (see startHarness) running examples/workflows.ts, with a plain client to start its workflows. */
export async function startPatternsHarness(
  opts: { tools?: ToolDefinition[] } = {},
): Promise<PatternsHarness> {
  const h = await startHarness({ workflowsPath: require.resolve('../../examples/workflows'), ...opts });
  const { fake, baton, taskQueue } = h;
  const client = new Client({ connection: h.connection, namespace: h.namespace });

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
    close: () => h.close(),
  };
}
