import { Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import { freePort, locateTemporalBinary, startDevServer, type DevServer } from '../../src/server';
import type { ModelProfile } from '../../src/types';
import { killHard, startChildWorker } from '../support/child-worker';
import { FakeModelServer } from '../support/fake-model-server';
import { fakeEnv } from '../support/harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const binary = locateTemporalBinary();
// An existing cluster (TEMPORAL_ADDRESS) cannot be killed and restarted by a test.
const maybe = 'path' in binary && !process.env.TEMPORAL_ADDRESS ? test : test.skip;

let fake: FakeModelServer;
let server: DevServer | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  fake = await FakeModelServer.start();
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await server?.stop();
  await fake?.close();
});

maybe(
  'a run survives the Temporal server being killed mid-call and restarted from its database',
  async () => {
    const bin = (binary as { path: string }).path;
    const dbFile = join(mkdtempSync(join(tmpdir(), 'baton-restart-')), 'temporal.db');
    const port = await freePort();
    server = await startDevServer({ binary: bin, dbFile, port });

    fake.on('step one', { text: 'S1' });
    // The first attempt of step two is in flight when the server dies; its retry answers at once.
    fake.on('step two', (_req, n) => (n === 0 ? { text: 'lost', delayMs: 60_000 } : { text: 'S2' }));
    fake.on('step three', { text: 'S3' });
    const taskQueue = `restart-${Date.now()}`;
    const env = {
      ...fakeEnv(fake),
      BATON_TASK_QUEUE: taskQueue,
      BATON_TEST_TEMPORAL_ADDRESS: server.address,
    };
    children.push(await startChildWorker(env));

    let connection = await Connection.connect({ address: server.address });
    let baton = await BatonClient.connect({ connection, taskQueue });
    const def = chain('restart', [
      { name: 'one', profile, prompt: 'step one {{input}}' },
      { name: 'two', profile, prompt: 'step two {{one}}' },
      { name: 'three', profile, prompt: 'step three {{two}}' },
    ]);
    const { runId } = await baton.start(def, 'go', {
      runId: `restart-${Date.now()}`,
      options: { heartbeatTimeout: '2s' },
    });
    await fake.waitFor('step two', 1, 60_000);

    // Kill the server without a chance to flush anything, and the worker with it.
    process.kill(server.pid, 'SIGKILL');
    await killHard(children[0]!);
    await connection.close();

    server = await startDevServer({ binary: bin, dbFile, port });
    children.push(await startChildWorker(env));
    connection = await Connection.connect({ address: server.address });
    baton = await BatonClient.connect({ connection, taskQueue });
    try {
      const result = await baton.result(runId);
      expect(result.steps.map((s) => s.output)).toEqual(['S1', 'S2', 'S3']);
      expect(fake.count('step one')).toBe(1);
      expect(fake.count('step three')).toBe(1);
    } finally {
      await connection.close();
    }
  },
);
