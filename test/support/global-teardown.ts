import type { TemporalHandle } from '../../src/server';
import { HANDLE_KEY } from './global-setup';

/**
 * Jest global teardown: says how many runs the tests left running on the server (every test file
 * shares its namespace, so a run parked without a worker meets other files' listings), then stops
 * the server global-setup.ts started (a no-op for an existing cluster).
 */
export default async function globalTeardown(): Promise<void> {
  const handle = (globalThis as Record<symbol, TemporalHandle | undefined>)[HANDLE_KEY];
  delete (globalThis as Record<symbol, unknown>)[HANDLE_KEY];
  if (handle && handle.source !== 'env') await reportLeftRunning(handle).catch(() => undefined);
  await handle?.stop();
}

async function reportLeftRunning(handle: TemporalHandle): Promise<void> {
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect(handle.connectionOptions);
  try {
    const client = new Client({ connection, namespace: handle.namespace });
    const byQueue = new Map<string, number>();
    const example = new Map<string, string>();
    for await (const { taskQueue, workflowId } of listRaw(client, "ExecutionStatus = 'Running'")) {
      byQueue.set(taskQueue, (byQueue.get(taskQueue) ?? 0) + 1);
      if (!example.has(taskQueue)) example.set(taskQueue, workflowId);
    }
    const total = [...byQueue.values()].reduce((a, b) => a + b, 0);
    if (total === 0) return;
    const top = [...byQueue.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([q, n]) => `${q} ×${n} (e.g. ${example.get(q)})`)
      .join(', ');
    process.stderr.write(
      `tests left ${total} workflows running on the test server (by task queue: ${top})\n`,
    );
  } finally {
    await connection.close();
  }
}

/** Task queue and id of the workflows matching `query` (raw rows: no memo decoding, so no codec needed). */
async function* listRaw(
  client: import('@temporalio/client').Client,
  query: string,
): AsyncGenerator<{ taskQueue: string; workflowId: string }> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query,
      nextPageToken,
    });
    for (const e of page.executions ?? [])
      yield { taskQueue: e.taskQueue ?? '?', workflowId: e.execution?.workflowId ?? '?' };
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}
