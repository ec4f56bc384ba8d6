/**
 * The durability window of batch fan-out (docs/scale.md), proven with a real crash: the worker is
 * SIGKILLed mid-fan-out, another takes over, and the fake model server counts repeated requests.
 * The promise: a call whose answer landed more than `flush_ms + min(0.8 × heartbeat timeout, 60 s)`
 * before the crash is never requested again; calls inside that window, or in flight, at most once more
 * per crash.
 */
import { Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { durabilityWindowMs } from '../../src/activities/model-batch';
import { BatonClient } from '../../src/client';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { killHard, startChildWorker } from '../support/child-worker';
import { FakeModelServer, type FakeRequest } from '../support/fake-model-server';
import { fakeEnv } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test', maxTokens: 20 };

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
    taskQueue: `batch-crash-${process.pid}-${Date.now()}`,
  });
});
// Each test's workers stop with it: a worker left polling the shared task queue would take the next
// test's batch, and killing that test's own worker would then crash nothing.
afterEach(async () => {
  for (const c of children.splice(0)) await killHard(c);
});
afterAll(async () => {
  await connection?.close();
  await fake?.close();
});

// Two worker processes per test, each bundling the workflows, on a machine shared with other work.
jest.setTimeout(300_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL mid-fan-out: calls answered before the durability window are not repeated; the rest at most once more', async () => {
  const flushMs = 500;
  const heartbeatTimeoutMs = 2000;
  const windowMs = durabilityWindowMs(flushMs, heartbeatTimeoutMs);
  const t = `k${Math.random().toString(36).slice(2, 7)}`;
  const list = Array.from({ length: 30 }, (_, i) => `${t}-${String(i).padStart(2, '0')}`);
  // When each call's answer left the fake (first answer only), by item.
  const answeredAt = new Map<string, number>();
  const wave = (i: number) => (i < 12 ? 'early' : i < 20 ? 'late' : 'hung');
  fake.on(`List ${t}`, { text: JSON.stringify(list) });
  fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    async (r) => {
      const item = r.lastUserText.slice('Item '.length);
      const i = list.indexOf(item);
      const first = !answeredAt.has(item) && fake.count(`Item ${item}`) === 1;
      if (first && wave(i) === 'late') await sleep(4000);
      // Hung calls never answer their first request: the worker dies under them.
      if (first && wave(i) === 'hung') return { text: 'never', delayMs: 120_000 };
      if (!answeredAt.has(item)) answeredAt.set(item, Date.now());
      return { text: `done ${item}` };
    },
  );
  const env = { ...fakeEnv(fake), BATON_TASK_QUEUE: baton.taskQueue };
  const first = await startChildWorker(env);
  children.push(first);

  const def: EnsembleDefinition = {
    name: 'batch-crash',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `List ${t} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: 'Item {{item}}',
        fanOut: { from: 'list', batch: { size: 30, flushMs } },
        retry: { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 },
      },
    ],
  };
  const { runId } = await baton.start(def, 'go', {
    runId: `batch-crash-${Date.now()}`,
    options: { heartbeatTimeout: `${heartbeatTimeoutMs}ms` },
  });

  // Every call has been sent; the late wave answers about 4 s later; kill just after it landed.
  await fake.waitFor(`Item ${t}-`, 30, 60_000);
  while (list.slice(12, 20).some((i) => !answeredAt.has(i))) await sleep(20);
  await sleep(200);
  const killedAt = Date.now();
  await killHard(first);

  children.push(await startChildWorker(env));
  const result = await baton.result(runId);
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));

  const count = (item: string) => fake.count(`Item ${item}`);
  // Answered before the window: recorded on the server, never asked again.
  const safe = list.filter((i) => answeredAt.get(i)! <= killedAt - windowMs);
  // Answered inside the window, or still in flight at the kill: may be asked once more.
  const exposed = list.filter((i) => !safe.includes(i));
  expect(safe.length).toBeGreaterThanOrEqual(12);
  for (const i of safe) expect(count(i)).toBe(1);
  for (const i of exposed) expect(count(i)).toBeLessThanOrEqual(2);
  // The hung calls had no answer when the worker died: they are the only ones that must run again.
  for (const i of list.slice(20)) expect(count(i)).toBe(2);
  const repeated = list.reduce((n, i) => n + count(i) - 1, 0);
  expect(repeated).toBeLessThanOrEqual(exposed.length);
  // Every call is counted on the step, once.
  expect(result.steps.find((s) => s.name === 'each')?.calls).toBe(30);
});

test('with flush 0 (BATON_BATCH_FLUSH_MS=0 on the worker) every answer is recorded as it lands: after the window, only calls in flight at the crash run again', async () => {
  const heartbeatTimeoutMs = 2000;
  const windowMs = durabilityWindowMs(0, heartbeatTimeoutMs);
  const t = `z${Math.random().toString(36).slice(2, 7)}`;
  const list = Array.from({ length: 20 }, (_, i) => `${t}-${String(i).padStart(2, '0')}`);
  let lastAnswer = 0;
  fake.on(`List ${t}`, { text: JSON.stringify(list) });
  fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => {
      const item = r.lastUserText.slice('Item '.length);
      if (list.indexOf(item) >= 15 && fake.count(`Item ${item}`) === 1)
        return { text: 'never', delayMs: 120_000 };
      lastAnswer = Date.now();
      return { text: `done ${item}` };
    },
  );
  // The worker's default flush interval (the step gives none).
  const env = { ...fakeEnv(fake), BATON_TASK_QUEUE: baton.taskQueue, BATON_BATCH_FLUSH_MS: '0' };
  const first = await startChildWorker(env);
  children.push(first);
  const def: EnsembleDefinition = {
    name: 'batch-crash-0',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `List ${t} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: 'Item {{item}}',
        fanOut: { from: 'list', batch: { size: 20 } },
      },
    ],
  };
  const { runId } = await baton.start(def, 'go', {
    runId: `batch-crash0-${Date.now()}`,
    options: { heartbeatTimeout: `${heartbeatTimeoutMs}ms` },
  });
  await fake.waitFor(`Item ${t}-`, 20, 60_000);
  // Wait out the window after the last answer, then crash.
  await sleep(Math.max(0, lastAnswer + windowMs + 300 - Date.now()));
  await killHard(first);
  children.push(await startChildWorker(env));
  const result = await baton.result(runId);
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));
  for (const i of list.slice(0, 15)) expect(fake.count(`Item ${i}`)).toBe(1);
  for (const i of list.slice(15)) expect(fake.count(`Item ${i}`)).toBe(2);
});
