/**
 * Upgrading a worker's code under running runs: worker A (Baton's workflows, "version 1") is
 * stopped while one run waits at an approval gate and another has a model call in flight; worker
 * B runs "version 2" (test/support/upgraded-workflows.ts: two command changes behind patched()).
 * Both runs finish on B, with no nondeterminism and no model call repeated.
 */
import { Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import { loadEnsembleText } from '../../src/config';
import type { ModelProfile } from '../../src/types';
import { killHard, startChildWorker } from '../support/child-worker';
import { FakeModelServer } from '../support/fake-model-server';
import { fakeEnv } from '../support/harness';
import { testTemporal } from '../support/temporal-env';
import { UPGRADE_PRELUDE_PATCH, UPGRADE_STAMP_PATCH } from '../support/upgraded-workflows';

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
    taskQueue: `upgrade-${process.pid}-${Date.now()}`,
  });
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await connection?.close();
  await fake?.close();
});

/** The history's events as JSON-ish objects, and what the test looks for in them. */
async function historyOf(runId: string) {
  const events = (await baton.temporal.workflow.getHandle(runId).fetchHistory()).events ?? [];
  // A patch marker's details hold `{"id": "<patch id>", ...}` as a JSON payload.
  const patches = events
    .map((e) => e.markerRecordedEventAttributes)
    .filter((m) => m?.markerName === 'core_patch')
    .map((m) => {
      const data: unknown = m!.details?.['patch-data']?.payloads?.[0]?.data;
      return typeof data === 'string'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(data as Uint8Array).toString('utf8');
    });
  return {
    patches: patches.join(' '),
    failedTasks: events.filter((e) => e.workflowTaskFailedEventAttributes).length,
    timers: events.filter((e) => e.timerStartedEventAttributes).length,
  };
}

test('runs waiting at an approval and at a running model call finish on a worker with new (patched) code', async () => {
  fake.on('upgrade draft', { text: 'DRAFT' });
  fake.on('upgrade publish', { text: 'PUBLISHED' });
  fake.on('upgrade slow', { text: 'SLOW', delayMs: 4000 });
  fake.on('upgrade after', { text: 'AFTER' });
  const env = { ...fakeEnv(fake), BATON_TASK_QUEUE: baton.taskQueue };

  const a = await startChildWorker(env);
  children.push(a);
  const gated = loadEnsembleText(
    [
      'name: upgrade-gated',
      'profiles:',
      '  oa: { provider: openai, model: gpt-test }',
      'default_profile: oa',
      'agents:',
      '  - name: draft',
      '    prompt: "upgrade draft {{input}}"',
      '  - name: sign-off',
      '    kind: approval',
      '    depends_on: [draft]',
      '    deadline: 1h',
      '  - name: publish',
      '    depends_on: [sign-off]',
      '    prompt: "upgrade publish {{sign-off}}"',
      '',
    ].join('\n'),
    'upgrade-gated.yaml',
  );
  const running = chain('upgrade-running', [
    { name: 'slow', profile, prompt: 'upgrade slow {{input}}' },
    { name: 'after', profile, prompt: 'upgrade after {{slow}}' },
  ]);
  const gate = await baton.start(gated, 'notes', { runId: `${baton.taskQueue}-gate` });
  const call = await baton.start(running, 'x', {
    runId: `${baton.taskQueue}-call`,
    options: { heartbeatTimeout: '2s' },
  });
  while ((await baton.pendingApprovals(gate.runId)).length === 0) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await fake.waitFor('upgrade slow', 1, 60_000);

  // The deploy: A drains (its call finishes there) and stops; B comes up with version 2.
  const aExited = new Promise<number | null>((resolve) => a.once('exit', (code) => resolve(code)));
  a.kill('SIGTERM');
  const b = await startChildWorker({
    ...env,
    BATON_TEST_WORKFLOWS: require.resolve('../support/upgraded-workflows'),
  });
  children.push(b);
  expect(await aExited).toBe(0);

  // The person approves after the switch: the decision lands on version 2.
  await baton.approve(gate.runId, { by: 'tester', comment: 'after the upgrade' });
  const [gateResult, callResult] = await Promise.all([baton.result(gate.runId), baton.result(call.runId)]);
  expect(gateResult.output).toBe('PUBLISHED');
  expect(callResult.output).toBe('AFTER');
  expect(callResult.steps.map((s) => s.attempts)).toEqual([1, 1]);
  for (const prompt of ['upgrade draft', 'upgrade publish', 'upgrade slow', 'upgrade after']) {
    expect(fake.count(prompt)).toBe(1);
  }

  for (const runId of [gate.runId, call.runId]) {
    const h = await historyOf(runId);
    // No workflow task failed: version 2 replayed version 1's history without nondeterminism.
    expect(h.failedTasks).toBe(0);
    // The change before the waiting point stayed off for them; the one after it ran (on B).
    expect(h.patches).not.toContain(UPGRADE_PRELUDE_PATCH);
    expect(h.timers).toBe(gate.runId === runId ? 1 : 0); // the gate's deadline timer only
    expect(h.patches).toContain(UPGRADE_STAMP_PATCH);
    const memo = (await baton.temporal.workflow.getHandle(runId).describe()).memo;
    expect(memo?.codeVersion).toBe(2);
  }

  // A run started after the deploy takes both new paths.
  fake.on('upgrade fresh', { text: 'FRESH' });
  const fresh = chain('upgrade-fresh', [{ name: 'one', profile, prompt: 'upgrade fresh {{input}}' }]);
  const { runId } = await baton.start(fresh, 'y', { runId: `${baton.taskQueue}-fresh` });
  expect((await baton.result(runId)).output).toBe('FRESH');
  const h = await historyOf(runId);
  expect(h.patches).toContain(UPGRADE_PRELUDE_PATCH);
  expect(h.patches).toContain(UPGRADE_STAMP_PATCH);
  expect(h.timers).toBe(1);
});
