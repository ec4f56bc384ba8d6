import { Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import type { ModelProfile } from '../../src/types';
import { killHard, startChildWorker } from '../support/child-worker';
import { FakeModelServer } from '../support/fake-model-server';
import { fakeEnv } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };

let fake: FakeModelServer;
let baton: BatonClient;
let connection: Connection;
const children: ChildProcess[] = [];

beforeAll(async () => {
  fake = await FakeModelServer.start();
  const t = testTemporal();
  connection = await Connection.connect(t.connectionOptions);
  baton = await BatonClient.connect({
    connection,
    namespace: t.namespace,
    taskQueue: `crash-${process.pid}-${Date.now()}`,
  });
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await connection?.close();
  await fake?.close();
});

test('a run survives its worker being SIGKILLed mid-call, and no completed model call is repeated', async () => {
  fake.on('step one', { text: 'S1' });
  // The first attempt of step two hangs (the worker dies under it); the retry answers at once.
  fake.on('step two', (_req, n) => (n === 0 ? { text: 'too late', delayMs: 60_000 } : { text: 'S2' }));
  fake.on('step three', { text: 'S3' });
  const env = { ...fakeEnv(fake), BATON_TASK_QUEUE: baton.taskQueue };

  const first = await startChildWorker(env);
  children.push(first);
  const def = chain('crash', [
    { name: 'one', profile, prompt: 'step one {{input}}' },
    { name: 'two', profile, prompt: 'step two {{one}}' },
    { name: 'three', profile, prompt: 'step three {{two}}' },
  ]);
  const { runId } = await baton.start(def, 'go', {
    runId: `crash-${Date.now()}`,
    options: { heartbeatTimeout: '2s' },
  });

  await fake.waitFor('step two', 1, 60_000);
  await killHard(first);
  const progressAfterKill = await baton.handle(runId).describe();
  expect(progressAfterKill.status.name).toBe('RUNNING');

  children.push(await startChildWorker(env));
  const result = await baton.result(runId);

  expect(result.output).toBe('S3');
  expect(result.steps.map((s) => s.output)).toEqual(['S1', 'S2', 'S3']);
  expect(fake.count('step one')).toBe(1);
  expect(fake.count('step two')).toBe(2);
  expect(fake.count('step three')).toBe(1);
  expect(result.steps[1]!.attempts).toBe(2);
});
