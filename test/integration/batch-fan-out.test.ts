/**
 * Batch fan-out (docs/scale.md) on the real server with the wire-level fake: instances grouped in
 * batch activities, per-call retries with Retry-After, per-call error classes, per-call budgets.
 */
import { RunFailedError } from '../../src/client';
import { fetchRunHistory, replayHistory } from '../../src/replay';
import type { EnsembleDefinition, FanOutBatch, ModelProfile } from '../../src/types';
import { worstCaseOf } from '../../src/workflows/ledger';
import type { PendingApproval } from '../../src/workflows/api';
import type { FakeRequest } from '../support/fake-model-server';
import {
  patternsBundle,
  startPatternsHarness,
  uniqueId,
  type PatternsHarness,
} from '../support/patterns-harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test', maxTokens: 20 };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const items = (n: number, t: string) =>
  Array.from({ length: n }, (_, i) => `${t}-${String(i).padStart(3, '0')}`);

function def(
  t: string,
  batch: FanOutBatch,
  extra: { budget?: EnsembleDefinition['budget']; maxConcurrency?: number } = {},
): EnsembleDefinition {
  return {
    name: 'batch-fan',
    ...(extra.budget && { budget: extra.budget }),
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `List ${t} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: 'Item {{item}}',
        fanOut: {
          from: 'list',
          batch,
          ...(extra.maxConcurrency && { maxConcurrency: extra.maxConcurrency }),
        },
        retry,
      },
    ],
  };
}

async function scheduledActivities(runId: string): Promise<number> {
  const history = await fetchRunHistory(h.client, runId);
  return (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).length;
}

async function replays(runId: string): Promise<void> {
  const report = await replayHistory(await fetchRunHistory(h.client, runId), runId, {
    workflowBundle: await patternsBundle(),
  });
  expect(report).toMatchObject({ ok: true });
}

test('a 60-wide fan-out with batch size 25 runs as 3 batch activities, each call once, outputs in item order', async () => {
  const t = `b${Math.random().toString(36).slice(2, 7)}`;
  const list = items(60, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({
      text: `done ${r.lastUserText.slice(5)}`,
    }),
  );
  const runId = uniqueId('batch');
  const result = await h.baton.run(def(t, { size: 25 }), 'go', { runId });
  expect(result.status).toBe('completed');
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));
  for (const i of list) expect(h.fake.count(`Item ${i}`)).toBe(1);
  // The list step's call, and 60 calls in ceil(60 / 25) = 3 batches.
  expect(await scheduledActivities(runId)).toBe(1 + 3);
  const each = result.steps.find((s) => s.name === 'each')!;
  expect(each.calls).toBe(60);
  await replays(runId);
});

test('max_concurrency caps the calls in flight across batches', async () => {
  const t = `mc${Math.random().toString(36).slice(2, 7)}`;
  const list = items(24, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  let inFlight = 0;
  let most = 0;
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((res) => setTimeout(res, 50));
      inFlight--;
      return { text: 'ok' };
    },
  );
  const result = await h.baton.run(def(t, { size: 4 }, { maxConcurrency: 8 }), 'go', {
    runId: uniqueId('batch-mc'),
  });
  expect(result.status).toBe('completed');
  expect(most).toBeLessThanOrEqual(8);
  expect(h.fake.count(`Item ${t}-`)).toBe(24);
});

test('a call answered 429 with Retry-After is retried inside its batch; the batch activity is not retried', async () => {
  const t = `ra${Math.random().toString(36).slice(2, 7)}`;
  const list = items(10, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  // Later rules come first at the fake.
  h.fake.on((r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`), { text: 'ok' });
  h.fake.on(`Item ${list[3]}`, (_r, n) =>
    n === 0
      ? { status: 429, message: 'slow down', headers: { 'retry-after-ms': '300' } }
      : { text: 'late but fine' },
  );
  const runId = uniqueId('batch-429');
  const result = await h.baton.run(def(t, { size: 10 }), 'go', { runId });
  expect(JSON.parse(result.output)[3]).toBe('late but fine');
  expect(h.fake.count(`Item ${list[3]}`)).toBe(2);
  for (const i of list.filter((_, k) => k !== 3)) expect(h.fake.count(`Item ${i}`)).toBe(1);
  const history = await fetchRunHistory(h.client, runId);
  const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
  expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1, 1]);
});

test('a quota error fails that call at once (no retry), no new batch starts, and the step says which instance and why', async () => {
  const t = `q${Math.random().toString(36).slice(2, 7)}`;
  const list = items(6, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on((r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`), { text: 'ok' });
  h.fake.on(`Item ${list[2]}`, {
    status: 429,
    errorType: 'insufficient_quota',
    message: 'You exceeded your current quota',
  });
  // Two batches of 3, one at a time: the failure in the first keeps the second from starting.
  const err = (await h.baton
    .run(def(t, { size: 3 }, { maxConcurrency: 3 }), 'go', { runId: uniqueId('batch-quota') })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.step).toBe('each');
  const each = err.progress?.steps.find((s) => s.name === 'each');
  expect(each?.error?.type).toBe('ModelQuotaError');
  expect(err.message).toContain('instance 2');
  expect(err.message).toContain('out of quota');
  expect(h.fake.count(`Item ${list[2]}`)).toBe(1);
  for (const i of list.slice(0, 3)) expect(h.fake.count(`Item ${i}`)).toBe(1);
  for (const i of list.slice(3)) expect(h.fake.count(`Item ${i}`)).toBe(0);
});

test('a 50-wide batch fan-out under a budget for 5 calls makes exactly 5 calls and waits at the budget gate', async () => {
  const t = `bg${Math.random().toString(36).slice(2, 7)}`;
  const list = items(50, t);
  const worst = worstCaseOf({ profile, messages: [{ role: 'user', content: `Item ${list[0]}` }] });
  h.fake.on(`List ${t}`, { text: JSON.stringify(list), usage: { input: 1, output: 1 } });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({
      text: `done ${r.lastUserText}`,
      usage: { input: worst.tokens - 20, output: 20 },
    }),
  );
  const limit = 2 + 5 * worst.tokens;
  const runId = uniqueId('batch-budget');
  await h.baton.start(def(t, { size: 20 }, { budget: { maxTokens: limit } }), 'go', { runId });
  const gate = await eventually(
    async () => (await h.baton.pendingApprovals(runId)).find((p: PendingApproval) => p.kind === 'budget'),
    'the budget gate',
  );
  expect(gate.step).toBe('each');
  expect(h.fake.count(`Item ${t}-`)).toBe(5);
  const progress = await h.baton.progress(runId);
  expect(progress.budget).toMatchObject({ spent: { tokens: limit }, reserved: { tokens: 0 } });

  await h.baton.approve(runId, { gate: 'budget', by: 'alice', budget: { maxTokens: 2 + 50 * worst.tokens } });
  const result = await h.baton.result(runId);
  expect(JSON.parse(result.output)).toHaveLength(50);
  for (const i of list) expect(h.fake.count(`Item ${i}`)).toBe(1);
  expect(result.budget).toMatchObject({ spent: { tokens: 2 + 50 * worst.tokens }, reserved: { tokens: 0 } });
  await replays(runId);
});

test('cancelling a run cancels its running batch: no call of it starts afterwards', async () => {
  const t = `c${Math.random().toString(36).slice(2, 7)}`;
  const list = items(8, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on((r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`), { text: 'slow', delayMs: 60_000 });
  const runId = uniqueId('batch-cancel');
  await h.baton.start(def(t, { size: 4 }, { maxConcurrency: 4 }), 'go', {
    runId,
    options: { heartbeatTimeout: '2s' },
  });
  await h.fake.waitFor(`Item ${t}-`, 4, 30_000);
  await h.baton.cancel(runId);
  await expect(h.baton.result(runId)).rejects.toThrow();
  await eventually(async () => (h.fake.inFlight === 0 ? true : undefined), 'the batch calls to be aborted');
  expect(h.fake.count(`Item ${t}-`)).toBe(4);
});

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
