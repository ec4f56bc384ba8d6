/**
 * A run whose worker is gone: its progress is read by query, which only a worker answers. The
 * client bounds each such query (queryTimeoutMs), so `progress` fails in that time with a message
 * naming the task queue, instead of waiting for the server's own limit (about 30 s).
 */
import { BatonClient, ProgressUnavailableError } from '../../src/client';
import type { EnsembleDefinition } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

test('progress of a run whose worker is gone fails within queryTimeoutMs, naming its task queue', async () => {
  const definition: EnsembleDefinition = {
    name: 'query-deadline',
    steps: [
      { kind: 'approval', name: 'ok', dependsOn: [], present: 'OK?', deadline: '1h', onTimeout: 'reject' },
    ],
  };
  const { runId } = await h.baton.start(definition, 'x', { runId: `query-deadline-${Date.now()}` });
  // Wait until the worker has run it to its gate.
  for (;;) {
    const gates = await h.baton.pendingApprovals(runId).catch(() => []);
    if (gates.length === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = await BatonClient.connect({
    connection: h.connection,
    namespace: h.namespace,
    taskQueue: h.taskQueue,
    queryTimeoutMs: 1000,
  });
  try {
    h.worker.shutdown();
    const err = await client.progress(runId).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProgressUnavailableError);
    expect((err as Error).message).toContain(
      `run ${runId} is running, but no worker answered its progress query within 1 s`,
    );
    expect((err as Error).message).toContain(`baton worker --task-queue ${h.taskQueue}`);
  } finally {
    // Its worker is gone, so a cancel would wait for one: end it here.
    await client.temporal.workflow.getHandle(runId).terminate('test cleanup');
    await client.close();
  }
}, 60_000);
