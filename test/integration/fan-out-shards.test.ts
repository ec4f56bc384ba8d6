/**
 * Sharded fan-out (docs/scale.md) on the real server with the wire-level fake: a fan-out wider
 * than its shard size runs in child workflows, one per shard, under the run's one ledger; the
 * run's history holds the shards' starts and results only. Also a SIGKILL of the worker mid-run.
 */
import { Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { durabilityWindowMs } from '../../src/activities/model-batch';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { BatonClient, RunFailedError } from '../../src/client';
import { fetchRunHistory, replayHistory } from '../../src/replay';
import type { EnsembleDefinition, FanOut, ModelProfile } from '../../src/types';
import type { PendingApproval } from '../../src/workflows/api';
import { worstCaseOf } from '../../src/workflows/ledger';
import { killHard, startChildWorker } from '../support/child-worker';
import type { FakeRequest } from '../support/fake-model-server';
import { fakeEnv } from '../support/harness';
import {
  patternsBundle,
  startPatternsHarness,
  uniqueId,
  type PatternsHarness,
} from '../support/patterns-harness';
import { testTemporal } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test', maxTokens: 20 };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };

/** Idempotency keys the `mark` tool was called with, in order. */
const marks: string[] = [];
const mark = createTool({
  name: 'mark',
  description: 'Marks an item (idempotent).',
  input: z.object({ item: z.string() }),
  run: (_input, ctx) => {
    marks.push(ctx.idempotencyKey);
    return 'marked';
  },
});

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [mark] });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());
jest.setTimeout(300_000);

const items = (n: number, t: string) =>
  Array.from({ length: n }, (_, i) => `${t}-${String(i).padStart(3, '0')}`);

function def(
  t: string,
  fanOut: Omit<FanOut, 'from'>,
  extra: { budget?: EnsembleDefinition['budget']; prompt?: string } = {},
): EnsembleDefinition {
  return {
    name: 'shard-fan',
    ...(extra.budget && { budget: extra.budget }),
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `List ${t} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: extra.prompt ?? 'Item {{item}}',
        fanOut: { from: 'list', ...fanOut },
        retry,
      },
    ],
  };
}

const answerItems = (t: string) =>
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({ text: `done ${r.lastUserText.slice('Item '.length)}` }),
  );

async function historyOf(runId: string) {
  return (await fetchRunHistory(h.client, runId)).events ?? [];
}

async function replays(runId: string): Promise<void> {
  const report = await replayHistory(await fetchRunHistory(h.client, runId), runId, {
    workflowBundle: await patternsBundle(),
  });
  expect(report).toMatchObject({ ok: true });
}

test('a 250-wide batch fan-out with shard size 100 runs in 3 shard workflows: every output in order, each request once, the run records only the shards', async () => {
  const t = `s${Math.random().toString(36).slice(2, 7)}`;
  const list = items(250, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  answerItems(t);
  const runId = uniqueId('shards');
  const result = await h.baton.run(def(t, { batch: { size: 25 }, shard: { size: 100 } }), 'go', { runId });
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));
  for (const i of list) expect(h.fake.count(`Item ${i}`)).toBe(1);
  const each = result.steps.find((s) => s.name === 'each')!;
  expect(each.calls).toBe(250);
  expect(each.shards).toEqual({ total: 3, done: 3, items: 250, itemsDone: 250 });

  const events = await historyOf(runId);
  // The run itself scheduled only the list call; its items ran in the 3 shards.
  expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(1);
  const started = events
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
    .filter((a) => a !== null && a !== undefined);
  expect(started.map((a) => a.workflowId)).toEqual([0, 1, 2].map((k) => `${runId}/each/shard-${k}`));
  expect(started.every((a) => a.workflowType?.name === 'batonFanOutShard')).toBe(true);
  // A shard's input holds its own items, not the whole list they came from.
  const input0 = Buffer.from(started[0]!.input!.payloads![0]!.data!).toString('utf8');
  expect(input0).toContain(list[99]);
  expect(input0).not.toContain(list[100]);
  // Each shard ran its 100 (or 50) items as batch activities of 25.
  const shard2 = (await fetchRunHistory(h.client, `${runId}/each/shard-2`)).events ?? [];
  expect(shard2.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(2);
  await replays(runId);
});

test('by default a fan-out shards only over 1000 items: 1000 run in the run, 1001 in 2 shards', async () => {
  const t = `d${Math.random().toString(36).slice(2, 7)}`;
  const list = items(1001, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on(`List1000 ${t}`, { text: JSON.stringify(list.slice(0, 1000)) });
  answerItems(t);
  const wide = uniqueId('shards-default');
  const result = await h.baton.run(def(t, { batch: { size: 500 } }), 'go', { runId: wide });
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));
  const started = (await historyOf(wide)).filter(
    (e) => e.startChildWorkflowExecutionInitiatedEventAttributes,
  );
  expect(started.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId)).toEqual([
    `${wide}/each/shard-0`,
    `${wide}/each/shard-1`,
  ]);
  // Shard 0's result (1000 outputs) is over the payload store's threshold: the run records its reference.
  const results = (await historyOf(wide))
    .map((e) => e.childWorkflowExecutionCompletedEventAttributes)
    .filter((a) => a !== null && a !== undefined);
  const encoding = (k: number) =>
    Buffer.from(results[k]!.result!.payloads![0]!.metadata!.encoding!).toString('utf8');
  expect(results.map((_, k) => encoding(k)).sort()).toEqual(['json/baton-payload-ref', 'json/plain']);
  const narrow = uniqueId('shards-default-1000');
  const d1000 = def(t, { batch: { size: 500 } });
  (d1000.steps[0] as { prompt: string }).prompt = `List1000 ${t} {{input}}`;
  const r1000 = await h.baton.run(d1000, 'go', { runId: narrow });
  expect(JSON.parse(r1000.output)).toHaveLength(1000);
  const events = await historyOf(narrow);
  expect(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toHaveLength(0);
  expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(3);
});

test('without batch, each shard runs one activity per instance, and {{chunk_index}} / {{total_chunks}} count over all items', async () => {
  const t = `u${Math.random().toString(36).slice(2, 7)}`;
  const list = items(25, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  answerItems(t);
  const runId = uniqueId('shards-plain');
  const result = await h.baton.run(
    def(
      t,
      { shard: { size: 10 }, maxConcurrency: 20 },
      { prompt: 'Item {{item}} {{chunk_index}}/{{total_chunks}}' },
    ),
    'go',
    { runId },
  );
  expect(JSON.parse(result.output)).toEqual(list.map((i, n) => `done ${i} ${n}/25`));
  for (const i of list) expect(h.fake.count(`Item ${i} `)).toBe(1);
  expect(result.steps.find((s) => s.name === 'each')?.shards).toEqual({
    total: 3,
    done: 3,
    items: 25,
    itemsDone: 25,
  });
  const shard0 = (await fetchRunHistory(h.client, `${runId}/each/shard-0`)).events ?? [];
  expect(shard0.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(10);
  await replays(runId);
});

test('a tool-using fan-out in shards: each logical tool call has its own idempotency key, unique across shards', async () => {
  const t = `i${Math.random().toString(36).slice(2, 7)}`;
  const list = items(24, t);
  marks.length = 0;
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`) || r.messages.some((m) => m.role === 'tool'),
    (r) =>
      r.messages.some((m) => m.role === 'tool')
        ? { text: 'marked' }
        : { toolCalls: [{ name: 'mark', arguments: { item: r.lastUserText } }] },
  );
  const runId = uniqueId('shards-keys');
  const d = def(t, { shard: { size: 10 } });
  (d.steps[1] as { tools?: { name: string }[] }).tools = [{ name: 'mark' }];
  const result = await h.baton.run(d, 'go', { runId });
  expect(JSON.parse(result.output)).toEqual(list.map(() => 'marked'));
  expect(result.steps.find((s) => s.name === 'each')?.toolCalls).toBe(24);
  expect(marks).toHaveLength(24);
  expect(new Set(marks).size).toBe(24);
  for (const k of marks) expect(k).toMatch(new RegExp(`^${runId}/each/shard-[0-2]/each#\\d+$`));
});

test('max_concurrency caps calls in flight across shards: 20 with shards of 10 runs 2 shards at once', async () => {
  const t = `m${Math.random().toString(36).slice(2, 7)}`;
  const list = items(40, t);
  let now = 0;
  let peak = 0;
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    async (r) => {
      peak = Math.max(peak, ++now);
      await sleep(1000);
      now--;
      return { text: `done ${r.lastUserText.slice('Item '.length)}` };
    },
  );
  const result = await h.baton.run(def(t, { shard: { size: 10 }, maxConcurrency: 20 }), 'go', {
    runId: uniqueId('shards-limit'),
  });
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));
  expect(peak).toBeLessThanOrEqual(20);
  expect(peak).toBeGreaterThan(10);
});

test('a quota error in one shard fails the step with its type, naming the instance by its place among all items', async () => {
  const t = `q${Math.random().toString(36).slice(2, 7)}`;
  const list = items(30, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  answerItems(t);
  h.fake.on(`Item ${list[17]}`, {
    status: 429,
    errorType: 'insufficient_quota',
    message: 'You exceeded your current quota',
  });
  const runId = uniqueId('shards-quota');
  const err = (await h.baton
    .run(def(t, { batch: { size: 5 }, shard: { size: 10 } }), 'go', { runId })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.step).toBe('each');
  expect(err.progress?.steps.find((s) => s.name === 'each')?.error?.type).toBe('ModelQuotaError');
  expect(err.message).toContain('instance 17');
  // Not retried: the quota error fails its call at once.
  expect(h.fake.count(`Item ${list[17]}`)).toBe(1);
});

test('retry and fork of a run whose shard failed run the step again in shards of the new run', async () => {
  const t = `f${Math.random().toString(36).slice(2, 7)}`;
  const list = items(30, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  answerItems(t);
  h.fake.on(`Item ${list[17]}`, (_r, n) =>
    n === 0
      ? { status: 429, errorType: 'insufficient_quota', message: 'You exceeded your current quota' }
      : { text: `done ${list[17]}` },
  );
  const runId = uniqueId('shards-retry');
  const d = def(t, { batch: { size: 5 }, shard: { size: 10 } });
  await expect(h.baton.run(d, 'go', { runId })).rejects.toThrow(/instance 17/);
  const retry = await h.baton.retry(runId, { runId: `${runId}-r` });
  const retried = await h.baton.result(retry.runId);
  expect(JSON.parse(retried.output)).toEqual(list.map((i) => `done ${i}`));
  // The list step was reused: asked once in all.
  expect(h.fake.count(`List ${t}`)).toBe(1);
  const ids = (await historyOf(retry.runId))
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => typeof id === 'string');
  expect(ids).toEqual([0, 1, 2].map((k) => `${retry.runId}/each/shard-${k}`));
  await replays(retry.runId);

  const fork = await h.baton.fork(retry.runId, { fromStep: 'each', runId: `${runId}-f` });
  const forked = await h.baton.result(fork.runId);
  expect(forked.output).toBe(retried.output);
  expect(h.fake.count(`List ${t}`)).toBe(1);
  await replays(fork.runId);
});

test('a 50-wide sharded fan-out under a budget for 5 calls makes exactly 5 calls across its shards and waits at the one budget gate', async () => {
  const t = `g${Math.random().toString(36).slice(2, 7)}`;
  const list = items(50, t);
  const worst = worstCaseOf({ profile, messages: [{ role: 'user', content: `Item ${list[0]}` }] });
  h.fake.on(`List ${t}`, { text: JSON.stringify(list), usage: { input: 1, output: 1 } });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({ text: `done ${r.lastUserText}`, usage: { input: worst.tokens - 20, output: 20 } }),
  );
  const limit = 2 + 5 * worst.tokens;
  const runId = uniqueId('shards-budget');
  await h.baton.start(
    def(t, { batch: { size: 10 }, shard: { size: 20 } }, { budget: { maxTokens: limit } }),
    'go',
    {
      runId,
    },
  );
  const gate = await eventually(
    async () => (await h.baton.pendingApprovals(runId)).find((p: PendingApproval) => p.kind === 'budget'),
    'the budget gate',
  );
  expect(gate.step).toBe('each');
  expect(h.fake.count(`Item ${t}-`)).toBe(5);
  const progress = await h.baton.progress(runId);
  expect(progress.budget).toMatchObject({ spent: { tokens: limit }, reserved: { tokens: 0 } });
  expect(progress.steps.find((s) => s.name === 'each')?.calls).toBe(5);

  await h.baton.approve(runId, { gate: 'budget', by: 'alice', budget: { maxTokens: 2 + 50 * worst.tokens } });
  const result = await h.baton.result(runId);
  expect(JSON.parse(result.output)).toEqual(list.map((i) => `done Item ${i}`));
  for (const i of list) expect(h.fake.count(`Item ${i}`)).toBe(1);
  expect(result.budget).toMatchObject({ spent: { tokens: 2 + 50 * worst.tokens }, reserved: { tokens: 0 } });
  // Shards that ran out of allowance went on as shard-<k>.<n>.
  const ids = (await historyOf(runId))
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => typeof id === 'string');
  expect(ids).toContain(`${runId}/each/shard-0.1`);
  expect(ids.every((id) => /\/each\/shard-[0-2](\.\d+)?$/.test(id))).toBe(true);
  await replays(runId);
});

test('a budget gate rejected while shards wait fails the step with BudgetExceeded, as unsharded', async () => {
  const t = `r${Math.random().toString(36).slice(2, 7)}`;
  const list = items(30, t);
  const worst = worstCaseOf({ profile, messages: [{ role: 'user', content: `Item ${list[0]}` }] });
  h.fake.on(`List ${t}`, { text: JSON.stringify(list), usage: { input: 1, output: 1 } });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({ text: `done ${r.lastUserText}`, usage: { input: worst.tokens - 20, output: 20 } }),
  );
  const runId = uniqueId('shards-budget-no');
  await h.baton.start(
    def(t, { shard: { size: 10 } }, { budget: { maxTokens: 2 + 3 * worst.tokens } }),
    'go',
    { runId },
  );
  await eventually(
    async () => (await h.baton.pendingApprovals(runId)).find((p: PendingApproval) => p.kind === 'budget'),
    'the budget gate',
  );
  expect(h.fake.count(`Item ${t}-`)).toBe(3);
  await h.baton.reject(runId, { gate: 'budget', by: 'bob' });
  await expect(h.baton.result(runId)).rejects.toThrow(/budget exceeded before step 'each'/);
  expect(h.fake.count(`Item ${t}-`)).toBe(3);
});

test('cancelling the run cancels its shard workflows: their calls in flight are aborted and no call starts afterwards', async () => {
  const t = `c${Math.random().toString(36).slice(2, 7)}`;
  const list = items(30, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on((r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`), { text: 'slow', delayMs: 60_000 });
  const runId = uniqueId('shards-cancel');
  await h.baton.start(def(t, { batch: { size: 5 }, shard: { size: 10 } }), 'go', {
    runId,
    options: { heartbeatTimeout: '2s' },
  });
  await h.fake.waitFor(`Item ${t}-`, 30, 30_000);
  // Each shard answers the progress query with its own step while it runs.
  const shardProgress = await h.client.workflow
    .getHandle(`${runId}/each/shard-1`)
    .query<{ steps: { name: string; status: string }[] }>('progress');
  expect(shardProgress.steps).toEqual([expect.objectContaining({ name: 'each', status: 'running' })]);
  await h.baton.cancel(runId);
  await expect(h.baton.result(runId)).rejects.toThrow();
  for (const k of [0, 1, 2]) {
    const d = await h.client.workflow.getHandle(`${runId}/each/shard-${k}`).describe();
    expect(d.status.name).toBe('CANCELLED');
  }
  await eventually(async () => (h.fake.inFlight === 0 ? true : undefined), 'the shard calls to be aborted');
  expect(h.fake.count(`Item ${t}-`)).toBe(30);
});

describe('worker crash', () => {
  let baton: BatonClient;
  let connection: Connection;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    const te = testTemporal();
    connection = await Connection.connect(te.connectionOptions);
    baton = await BatonClient.connect({
      connection,
      namespace: te.namespace,
      taskQueue: `shard-crash-${process.pid}-${Date.now()}`,
    });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await killHard(c);
  });
  afterAll(async () => {
    await connection?.close();
  });

  test('SIGKILL mid-run: calls answered before the durability window are not repeated; the rest at most once more', async () => {
    const heartbeatTimeoutMs = 2000;
    const windowMs = durabilityWindowMs(0, heartbeatTimeoutMs);
    const t = `k${Math.random().toString(36).slice(2, 7)}`;
    const list = items(45, t);
    // The first 30 answer at once; the last 15 (most of shard 2, all of shard 3) hang on their first request.
    let lastAnswer = 0;
    h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
    h.fake.on(
      (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
      (r) => {
        const item = r.lastUserText.slice('Item '.length);
        if (list.indexOf(item) >= 30 && h.fake.count(`Item ${item}`) === 1)
          return { text: 'never', delayMs: 120_000 };
        lastAnswer = Date.now();
        return { text: `done ${item}` };
      },
    );
    const env = { ...fakeEnv(h.fake), BATON_TASK_QUEUE: baton.taskQueue };
    const first = await startChildWorker(env);
    children.push(first);
    const runId = uniqueId('shards-crash');
    await baton.start(def(t, { batch: { size: 10, flushMs: 0 }, shard: { size: 20 } }), 'go', {
      runId,
      options: { heartbeatTimeout: `${heartbeatTimeoutMs}ms` },
    });
    await h.fake.waitFor(`Item ${t}-`, 45, 60_000);
    // Past the window after the last answer: every answer has reached the server.
    await sleep(windowMs + 500);
    const killedAt = Date.now();
    const lastBeforeKill = lastAnswer;
    await killHard(first);

    children.push(await startChildWorker(env));
    const result = await baton.result(runId);
    expect(JSON.parse(result.output)).toEqual(list.map((i) => `done ${i}`));
    expect(lastBeforeKill).toBeLessThanOrEqual(killedAt - windowMs);
    const count = (i: string) => h.fake.count(`Item ${i}`);
    // Answered before the window: never asked again. In flight at the kill: exactly once more.
    for (const i of list.slice(0, 30)) expect(count(i)).toBe(1);
    for (const i of list.slice(30)) expect(count(i)).toBe(2);
    expect(result.steps.find((s) => s.name === 'each')?.calls).toBe(45);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
