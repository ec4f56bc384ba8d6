/**
 * Approval gates on a real Temporal server: decisions by Update and by Signal (also with the
 * stock `temporal` CLI), edits, every timeout outcome with short real deadlines, a worker killed
 * and replaced while a run waits, refused decisions that leave history untouched, and discovery
 * through the memo and search attributes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { ApprovalRefusedError, BatonClient, RunFailedError } from '../../src/client';
import { loadEnsembleText } from '../../src/config';
import type { Escalation } from '../../src/activities/notify';
import { locateTemporalBinary } from '../../src/server';
import type { AgentStep, ApprovalStep, EnsembleDefinition, ModelProfile } from '../../src/types';
import { DECIDE, SEARCH_ATTRIBUTES, decideSignal, type PendingApproval } from '../../src/workflows/api';
import { createWorker } from '../../src/worker';
import { killHard, startChildWorker } from '../support/child-worker';
import { FakeModelServer } from '../support/fake-model-server';
import { fakeEnv, workflowBundle } from '../support/harness';
import { testTemporal, testLogLevel } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };

let fake: FakeModelServer;
let native: NativeConnection;
let connection: Connection;
let worker: Worker;
let running: Promise<void>;
let baton: BatonClient;
const notifications: Escalation[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
  const t = testTemporal();
  fake = await FakeModelServer.start();
  native = await NativeConnection.connect(t.connectionOptions);
  const taskQueue = `approvals-${process.pid}-${Date.now()}`;
  worker = await createWorker({
    connection: native,
    namespace: t.namespace,
    taskQueue,
    env: fakeEnv(fake),
    workflowBundle: await workflowBundle(),
    notifier: async (n) => void notifications.push(n),
  });
  running = worker.run();
  connection = await Connection.connect(t.connectionOptions);
  baton = await BatonClient.connect({ connection, namespace: t.namespace, taskQueue });
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  worker?.shutdown();
  await running;
  await native?.close();
  await connection?.close();
  await fake?.close();
});
beforeEach(() => fake.reset());

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

const agent = (name: string, prompt: string, dependsOn: string[] = []): AgentStep => ({
  kind: 'agent',
  name,
  profile,
  prompt,
  dependsOn,
});
const gate = (name: string, dependsOn: string[], over: Partial<ApprovalStep> = {}): ApprovalStep => ({
  kind: 'approval',
  name,
  dependsOn,
  present: dependsOn.length ? `{{steps.${dependsOn[0]}}}` : '{{input}}',
  deadline: '1h',
  onTimeout: 'reject',
  ...over,
});

/** draft (a model call) → review (a gate showing the draft) → publish (a model call on the approved text). */
function reviewed(over: Partial<ApprovalStep> = {}, name = 'reviewed'): EnsembleDefinition {
  return {
    name,
    steps: [
      agent('draft', 'Draft about {{input}}'),
      gate('review', ['draft'], over),
      agent('publish', 'Publish: {{review}}', ['review']),
    ],
  };
}

/** Poll until `fn` returns a value (not undefined) or throw after `ms`. */
async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** Wait until the run shows `gate` as waiting, and return it. */
function waitForGate(runId: string, gateId: string, client = baton): Promise<PendingApproval> {
  return eventually(
    async () => (await client.pendingApprovals(runId)).find((p) => p.gate === gateId),
    `gate '${gateId}' of ${runId}`,
  );
}

async function historyLength(runId: string): Promise<number> {
  return (await baton.handle(runId).fetchHistory()).events?.length ?? 0;
}

async function refusedWith(p: Promise<unknown>): Promise<ApprovalRefusedError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApprovalRefusedError);
    return err as ApprovalRefusedError;
  }
  throw new Error('the decision was accepted');
}

async function failure(p: Promise<unknown>): Promise<RunFailedError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RunFailedError);
    return err as RunFailedError;
  }
  throw new Error('the run completed');
}

describe('deciding by Update', () => {
  test('approve: the run waits showing the draft, then moves on with it; the decision is in the result and history', async () => {
    fake.on('Draft about', { text: 'DRAFT-1' });
    fake.on('Publish: DRAFT-1', { text: 'PUBLISHED' });
    const { runId } = await baton.start(reviewed(), 'gates', { runId: id('approve') });

    const pending = await waitForGate(runId, 'review');
    expect(pending).toMatchObject({
      gate: 'review',
      step: 'review',
      kind: 'draft',
      draft: 'DRAFT-1',
      summary: 'DRAFT-1',
      onTimeout: 'reject',
    });
    expect(Date.parse(pending.deadline) - Date.parse(pending.since)).toBe(3_600_000);
    const progress = await baton.progress(runId);
    expect(progress.status).toBe('running');
    expect(progress.steps.map((s) => [s.name, s.status])).toEqual([
      ['draft', 'completed'],
      ['review', 'waiting'],
      ['publish', 'pending'],
    ]);
    expect(progress.pendingApprovals).toHaveLength(1);
    // Findable from outside: memo and search attribute.
    const described = await baton.handle(runId).describe();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pendingApprovals)).toEqual(['review']);
    expect(described.memo?.pendingApprovals).toEqual([
      expect.objectContaining({ gate: 'review', summary: 'DRAFT-1' }),
    ]);
    expect(fake.count('Publish')).toBe(0);

    const decidedAt = new Date().toISOString();
    const d = await baton.approve(runId, { by: 'alice', comment: 'ship it' });
    expect(d).toEqual({
      gate: 'review',
      step: 'review',
      outcome: 'approved',
      by: 'alice',
      comment: 'ship it',
      decidedAt: expect.any(String),
      // The gate's digest: the client sent no digest, so the run bound the decision to its only
      // waiting gate and recorded that gate's digest.
      digest: pending.digest,
      via: 'update',
    });
    expect(pending.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Date.parse(d.decidedAt)).toBeGreaterThanOrEqual(Date.parse(decidedAt));

    const result = await baton.result(runId);
    expect(result.output).toBe('PUBLISHED');
    expect(result.steps.find((s) => s.name === 'review')?.output).toBe('DRAFT-1');
    expect(result.decisions).toEqual([d]);
    expect(result.pendingApprovals).toBeUndefined();

    // History keeps the decision as the update's input and result.
    const events = (await baton.handle(runId).fetchHistory()).events ?? [];
    const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest?.input?.name).toBe(
      DECIDE,
    );
    const described2 = await baton.handle(runId).describe();
    expect(described2.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pendingApprovals)).toBeUndefined();
  });

  test('reject: the step fails with ApprovalRejected naming who and why; later steps never run', async () => {
    fake.on('Draft about', { text: 'DRAFT-R' });
    const { runId } = await baton.start(reviewed(), 'gates', { runId: id('reject') });
    await waitForGate(runId, 'review');

    const d = await baton.reject(runId, { gate: 'review', by: 'bob', comment: 'too long' });
    expect(d).toMatchObject({ outcome: 'rejected', by: 'bob', comment: 'too long' });

    const err = await failure(baton.result(runId));
    expect(err.step).toBe('review');
    expect(err.message).toContain("step 'review' failed: rejected by bob: too long");
    const review = err.progress!.steps.find((s) => s.name === 'review')!;
    expect(review.status).toBe('failed');
    expect(review.error).toEqual({ type: 'ApprovalRejected', message: 'rejected by bob: too long' });
    expect(err.progress!.decisions).toEqual([d]);
    expect(err.progress!.steps.find((s) => s.name === 'draft')?.output).toBe('DRAFT-R');
    expect(fake.count('Publish')).toBe(0);
  });

  test('approve with edits: the edited draft is the step output and what the next step sees', async () => {
    fake.on('Draft about', { text: 'DRAFT-E' });
    fake.on('Publish: EDITED', { text: 'PUBLISHED-EDITED' });
    const { runId } = await baton.start(reviewed(), 'gates', { runId: id('edit') });
    await waitForGate(runId, 'review');

    const d = await baton.approve(runId, {
      gate: 'review',
      by: 'carol',
      comment: 'tightened',
      editedDraft: 'EDITED text',
    });
    expect(d.editedDraft).toBe('EDITED text');

    const result = await baton.result(runId);
    expect(result.output).toBe('PUBLISHED-EDITED');
    expect(result.steps.find((s) => s.name === 'review')?.output).toBe('EDITED text');
    expect(fake.requests.find((r) => r.allText.includes('Publish'))?.lastUserText).toBe(
      'Publish: EDITED text',
    );
    expect(result.decisions?.[0]).toMatchObject({ by: 'carol', editedDraft: 'EDITED text' });
  });
});

describe('refused decisions', () => {
  test('a decision for a wrong gate is refused by the validator, leaves history untouched, and the gate still waits', async () => {
    fake.on('Draft about', { text: 'DRAFT-W' });
    fake.on('Publish', { text: 'OK' });
    const { runId } = await baton.start(reviewed(), 'gates', { runId: id('wrong') });
    await waitForGate(runId, 'review');
    const before = await historyLength(runId);

    const err = await refusedWith(baton.approve(runId, { gate: 'nope', by: 'mallory' }));
    expect(err.reason).toBe('unknown-gate');
    expect(err.message).toBe(`run ${runId}: no gate 'nope' waits in this run (waiting: 'review')`);
    const invalid = await refusedWith(baton.approve(runId, { by: 'mallory', editedArguments: { a: 1 } }));
    expect(invalid.reason).toBe('invalid');
    expect(invalid.message).toMatch(/is a draft: edit it with "editedDraft"/);

    expect(await historyLength(runId)).toBe(before);
    expect((await baton.pendingApprovals(runId)).map((p) => p.gate)).toEqual(['review']);
    await baton.approve(runId, { gate: 'review', by: 'alice' });
    expect((await baton.result(runId)).decisions).toHaveLength(1);
  });

  test('a second decision on a decided gate is refused as already decided, and the first stands', async () => {
    const def: EnsembleDefinition = {
      name: 'two-step',
      steps: [gate('first', []), gate('second', ['first'])],
    };
    const { runId } = await baton.start(def, 'two gates in a row', { runId: id('twice') });
    await waitForGate(runId, 'first');
    const first = await baton.approve(runId, { gate: 'first', by: 'alice', comment: 'yes' });
    await waitForGate(runId, 'second');
    const before = await historyLength(runId);

    const err = await refusedWith(baton.reject(runId, { gate: 'first', by: 'bob', comment: 'no' }));
    expect(err.reason).toBe('already-decided');
    expect(err.message).toContain(
      `gate 'first' was already decided: approved by alice at ${first.decidedAt}`,
    );
    expect(await historyLength(runId)).toBe(before);

    await baton.approve(runId, { gate: 'second', by: 'carol' });
    const result = await baton.result(runId);
    expect(result.decisions?.map((d) => [d.gate, d.outcome, d.by])).toEqual([
      ['first', 'approved', 'alice'],
      ['second', 'approved', 'carol'],
    ]);
    // After the run ended, the refusal still says what the gate got.
    const late = await refusedWith(baton.reject(runId, { gate: 'first', by: 'bob' }));
    expect(late.reason).toBe('already-decided');
    expect(late.message).toContain('approved by alice');
  });

  test('leaving the gate out while two gates wait is refused, naming both', async () => {
    const def: EnsembleDefinition = {
      name: 'parallel-gates',
      steps: [gate('legal', []), gate('finance', [])],
    };
    const { runId } = await baton.start(def, 'contract', { runId: id('ambiguous') });
    await waitForGate(runId, 'legal');
    await waitForGate(runId, 'finance');

    const err = await refusedWith(baton.approve(runId, { by: 'alice' }));
    expect(err.reason).toBe('gate-required');
    expect(err.message).toContain("2 gates are waiting, name one: 'legal', 'finance'");

    await baton.approve(runId, { gate: 'legal', by: 'alice' });
    await eventually(
      async () => ((await baton.pendingApprovals(runId)).length === 1 ? true : undefined),
      'one gate left',
    );
    await baton.approve(runId, { by: 'alice' }); // one gate left: no need to name it
    expect((await baton.result(runId)).decisions?.map((d) => d.gate)).toEqual(['legal', 'finance']);
  });

  test('a run that does not exist is refused in plain words', async () => {
    const err = await refusedWith(baton.approve(id('missing'), { by: 'alice' }));
    expect(err.reason).toBe('run-not-found');
  });
});

describe('deciding by Signal', () => {
  test('a signal decides like the update; one for an unknown gate is ignored and the gate keeps waiting', async () => {
    fake.on('Draft about', { text: 'DRAFT-S' });
    fake.on('Publish', { text: 'SIGNALLED' });
    const { runId } = await baton.start(reviewed(), 'gates', { runId: id('signal') });
    await waitForGate(runId, 'review');

    await baton.handle(runId).signal(decideSignal, { gate: 'nope', outcome: 'approved', by: 'mallory' });
    await baton
      .handle(runId)
      .signal(decideSignal, { gate: 'review', outcome: 'maybe' as never, by: 'mallory' });
    expect((await baton.pendingApprovals(runId)).map((p) => p.gate)).toEqual(['review']);
    expect((await baton.progress(runId)).decisions).toBeUndefined();

    await baton
      .handle(runId)
      .signal(decideSignal, { gate: 'review', outcome: 'approved', by: 'dave', comment: 'by signal' });
    const result = await baton.result(runId);
    expect(result.output).toBe('SIGNALLED');
    expect(result.decisions).toEqual([
      expect.objectContaining({
        gate: 'review',
        outcome: 'approved',
        by: 'dave',
        comment: 'by signal',
        via: 'signal',
      }),
    ]);
  });

  const cli = locateTemporalBinary();
  const stock = 'path' in cli && process.env.BATON_TEST_TEMPORAL_SOURCE !== 'env' ? test : test.skip;
  // No digest in the signal: accepted because a single gate waits (docs/approvals.md says so).
  stock(
    'the stock `temporal workflow signal` command decides a gate (the command docs/approvals.md shows)',
    async () => {
      fake.on('Draft about', { text: 'DRAFT-CLI' });
      fake.on('Publish', { text: 'OK' });
      const { runId } = await baton.start(reviewed(), 'gates', { runId: id('stock-cli') });
      await waitForGate(runId, 'review');
      const { address, namespace } = testTemporal();
      const input = JSON.stringify({ gate: 'review', outcome: 'rejected', by: 'erin', comment: 'not yet' });
      const args = [
        'workflow',
        'signal',
        '--address',
        address,
        '--namespace',
        namespace,
        '--workflow-id',
        runId,
        '--name',
        'decide',
        '--input',
        input,
      ];
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn((cli as { path: string }).path, args, { stdio: 'ignore' });
        child.on('close', resolve);
      });
      expect(code).toBe(0);
      const err = await failure(baton.result(runId));
      expect(err.message).toContain('rejected by erin: not yet');
      expect(err.progress?.decisions?.[0]).toMatchObject({ by: 'erin', via: 'signal', outcome: 'rejected' });
    },
  );
});

describe('deadlines', () => {
  test('on_timeout: reject — nobody decides, the gate rejects and the step fails saying so', async () => {
    fake.on('Draft about', { text: 'DRAFT-T1' });
    const { runId } = await baton.start(reviewed({ deadline: '2s', onTimeout: 'reject' }), 'x', {
      runId: id('timeout-reject'),
    });
    const err = await failure(baton.result(runId));
    expect(err.message).toContain('rejected by its deadline: no decision within 2s; on_timeout: reject');
    expect(err.progress?.decisions).toEqual([
      expect.objectContaining({
        gate: 'review',
        outcome: 'rejected',
        by: 'deadline',
        timedOut: true,
        via: 'timeout',
      }),
    ]);
    expect(fake.count('Publish')).toBe(0);
  });

  test('on_timeout: approve — nobody decides, the draft goes through as shown', async () => {
    fake.on('Draft about', { text: 'DRAFT-T2' });
    fake.on('Publish: DRAFT-T2', { text: 'AUTO-PUBLISHED' });
    const { runId } = await baton.start(reviewed({ deadline: '2s', onTimeout: 'approve' }), 'x', {
      runId: id('timeout-approve'),
    });
    const result = await baton.result(runId);
    expect(result.output).toBe('AUTO-PUBLISHED');
    expect(result.decisions).toEqual([
      expect.objectContaining({ outcome: 'approved', by: 'deadline', timedOut: true }),
    ]);
  });

  test('on_timeout: escalate — the notification activity runs, the gate waits again, then rejects', async () => {
    fake.on('Draft about', { text: 'DRAFT-T3' });
    const over = { deadline: '2s', onTimeout: 'escalate' as const, escalationDeadline: '2s' };
    const { runId } = await baton.start(reviewed(over), 'x', { runId: id('timeout-escalate') });
    const err = await failure(baton.result(runId));
    expect(notifications.filter((n) => n.runId === runId)).toEqual([
      {
        runId,
        gate: 'review',
        step: 'review',
        summary: 'DRAFT-T3',
        reason: 'no decision within 2s; waiting 2s more, then it rejects',
        deadline: expect.any(String),
      },
    ]);
    expect(err.message).toContain(
      'rejected by its deadline: no decision within 2s, nor within 2s after escalating',
    );
    expect(err.progress?.decisions).toEqual([
      expect.objectContaining({ outcome: 'rejected', timedOut: true, escalated: true }),
    ]);
  });

  test('on_timeout: escalate — a person who answers during the second wait decides', async () => {
    fake.on('Draft about', { text: 'DRAFT-T4' });
    fake.on('Publish', { text: 'LATE-BUT-OK' });
    const over = { deadline: '2s', onTimeout: 'escalate' as const, escalationDeadline: '1h' };
    const { runId } = await baton.start(reviewed(over), 'x', { runId: id('escalate-then-approve') });
    await eventually(async () => notifications.find((n) => n.runId === runId), 'the escalation notification');
    const pending = await eventually(
      async () => (await baton.pendingApprovals(runId)).find((p) => p.escalated),
      'the gate to show as escalated',
    );
    expect(Date.parse(pending.deadline) - Date.now()).toBeGreaterThan(3_000_000);

    const d = await baton.approve(runId, { by: 'boss', comment: 'sorry, was out' });
    expect(d).toMatchObject({ outcome: 'approved', by: 'boss', escalated: true });
    expect((await baton.result(runId)).output).toBe('LATE-BUT-OK');
  });
});

describe('durability', () => {
  test('runs waiting at gates survive their worker being killed and replaced: a deadline fires while no worker runs, an approval reaches the new worker', async () => {
    const t = testTemporal();
    const taskQueue = `approvals-crash-${process.pid}-${Date.now()}`;
    const client = await BatonClient.connect({ connection, namespace: t.namespace, taskQueue });
    const env = { ...fakeEnv(fake), BATON_TASK_QUEUE: taskQueue };
    fake.on('Draft about', { text: 'DRAFT-K' });
    fake.on('Publish: DRAFT-K', { text: 'AFTER-RESTART' });

    const first = await startChildWorker(env);
    children.push(first);
    const waiting = await client.start(reviewed(), 'x', { runId: id('crash-approve') });
    const timing = await client.start(reviewed({ deadline: '4s', onTimeout: 'approve' }), 'x', {
      runId: id('crash-deadline'),
    });
    await waitForGate(waiting.runId, 'review', client);
    await waitForGate(timing.runId, 'review', client);

    await killHard(first);
    // No worker at all while the second run's deadline passes: its timer is the server's.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await client.handle(timing.runId).describe()).status.name).toBe('RUNNING');

    children.push(await startChildWorker(env));
    const d = await client.approve(waiting.runId, { by: 'alice', comment: 'after the crash' });
    expect(d.gate).toBe('review');

    const [a, b] = await Promise.all([client.result(waiting.runId), client.result(timing.runId)]);
    expect(a.output).toBe('AFTER-RESTART');
    expect(a.decisions).toEqual([d]);
    expect(b.output).toBe('AFTER-RESTART');
    expect(b.decisions).toEqual([
      expect.objectContaining({ by: 'deadline', timedOut: true, outcome: 'approved' }),
    ]);
    // The drafts were made once each: nothing before the gate ran again on the new worker.
    expect(fake.count('Draft about')).toBe(2);
  });
});

describe('discovery', () => {
  test('pending approvals across runs are listed with run, gate, step, summary, since and deadline; decided ones drop off', async () => {
    fake.on('Draft about', (req) => ({ text: `DRAFT for ${req.lastUserText.slice('Draft about '.length)}` }));
    fake.on('Publish', { text: 'OK' });
    const a = await baton.start(reviewed({}, 'list-a'), 'alpha', { runId: id('list-a') });
    const b = await baton.start(reviewed({ deadline: '2h' }, 'list-b'), 'beta', { runId: id('list-b') });
    await waitForGate(a.runId, 'review');
    await waitForGate(b.runId, 'review');

    const mine = (rows: Awaited<ReturnType<BatonClient['listPendingApprovals']>>) =>
      rows.filter((r) => r.runId === a.runId || r.runId === b.runId);
    const rows = await eventually(async () => {
      const r = mine(await baton.listPendingApprovals());
      return r.length === 2 ? r : undefined;
    }, 'both runs in the listing');
    // Oldest gate first; both drafts are made at once, so either may have opened first.
    expect(Date.parse(rows[0]!.since)).toBeLessThanOrEqual(Date.parse(rows[1]!.since));
    rows.sort((x, y) => (x.runId === a.runId ? -1 : y.runId === a.runId ? 1 : 0));
    expect(rows).toEqual([
      expect.objectContaining({
        runId: a.runId,
        ensemble: 'list-a',
        gate: 'review',
        step: 'review',
        kind: 'draft',
        summary: 'DRAFT for alpha',
      }),
      expect.objectContaining({
        runId: b.runId,
        ensemble: 'list-b',
        gate: 'review',
        summary: 'DRAFT for beta',
        onTimeout: 'reject',
      }),
    ]);
    expect(Date.parse(rows[1]!.deadline) - Date.parse(rows[1]!.since)).toBe(7_200_000);

    await baton.approve(a.runId, { by: 'alice' });
    await eventually(async () => {
      const r = mine(await baton.listPendingApprovals());
      return r.length === 1 && r[0]!.runId === b.runId ? true : undefined;
    }, 'the decided run to drop off the listing');
    await baton.reject(b.runId, { by: 'alice' });
    await failure(baton.result(b.runId));
  });

  test('where Baton search attributes are not used, runs still wait and are listed from their memo', async () => {
    const t = testTemporal();
    const plain = await BatonClient.connect({
      connection,
      namespace: t.namespace,
      taskQueue: baton.taskQueue,
      searchAttributes: false,
    });
    fake.on('Draft about', { text: 'DRAFT-M' });
    fake.on('Publish', { text: 'OK' });
    const { runId } = await plain.start(reviewed(), 'x', { runId: id('memo-only') });
    await waitForGate(runId, 'review', plain);

    const described = await plain.handle(runId).describe();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.ensemble)).toBeUndefined();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pendingApprovals)).toBeUndefined();
    const row = await eventually(
      async () => (await plain.listPendingApprovals()).find((r) => r.runId === runId),
      'the run in the listing',
    );
    expect(row).toMatchObject({ gate: 'review', summary: 'DRAFT-M' });

    await plain.approve(runId, { by: 'alice' });
    expect((await plain.result(runId)).output).toBe('OK');
  });
});

describe('YAML', () => {
  test('a YAML approval step (present, deadline, on_timeout) gates a run the same way', async () => {
    const def = loadEnsembleText(
      `
name: yaml-gate
profiles:
  fake: { provider: openai, model: gpt-test }
default_profile: fake
agents:
  - name: draft
    prompt: "Draft about {{input}}"
  - name: sign-off
    kind: approval
    depends_on: [draft]
    present: "Please check: {{steps.draft}}"
    deadline: 2h
    on_timeout: escalate
    escalation_deadline: 1h
  - name: publish
    depends_on: [sign-off]
    prompt: "Publish: {{sign-off}}"
`,
      'yaml-gate.yaml',
      { config: { profiles: {}, files: [] } },
    );
    fake.on('Draft about', { text: 'YAML-DRAFT' });
    fake.on('Publish: Please check: YAML-DRAFT', { text: 'YAML-PUBLISHED' });
    const { runId } = await baton.start(def, 'x', { runId: id('yaml') });
    const pending = await waitForGate(runId, 'sign-off');
    expect(pending).toMatchObject({ draft: 'Please check: YAML-DRAFT', onTimeout: 'escalate' });
    await baton.approve(runId, { by: 'alice' });
    expect((await baton.result(runId)).output).toBe('YAML-PUBLISHED');
  });
});

describe('the baton CLI', () => {
  /** Run the real `baton` command against the test server; resolves with its exit code and output. */
  function cli(args: string[]) {
    const { address, namespace } = testTemporal();
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(__dirname, '..', '..', 'bin', 'baton.js'), ...args], {
        env: {
          PATH: process.env.PATH,
          HOME: tmpdir(),
          BATON_FROM_SOURCE: '1',
          TEMPORAL_ADDRESS: address,
          TEMPORAL_NAMESPACE: namespace,
          USER: 'cli-user',
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  test('baton approvals lists the gate; approve --edit-file decides it as $USER; a wrong gate exits 2 with one line', async () => {
    fake.on('Draft about', { text: 'DRAFT-CLI2' });
    fake.on('Publish: EDITED BY CLI', { text: 'CLI-PUBLISHED' });
    const { runId } = await baton.start(reviewed(), 'x', { runId: id('cli') });
    await waitForGate(runId, 'review');

    const listed = await eventually(async () => {
      const r = await cli(['approvals', '-o', 'json']);
      const rows = JSON.parse(r.stdout) as { runId: string; gate: string; summary: string }[];
      return rows.find((row) => row.runId === runId);
    }, 'the run in `baton approvals`');
    expect(listed).toMatchObject({
      gate: 'review',
      summary: 'DRAFT-CLI2',
      digest: expect.stringMatching(/^sha256:/),
    });

    // A digest that is not what the gate shows (the person saw something else): refused as stale.
    const stale = await cli(['approve', runId, 'review', '--digest', `sha256:${'0'.repeat(64)}`]);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toContain("gate 'review' shows something else than what was decided on");

    const wrong = await cli(['approve', runId, 'nope']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe(`baton: run ${runId}: no gate 'nope' waits in this run (waiting: 'review')\n`);

    const file = join(mkdtempSync(join(tmpdir(), 'baton-approve-')), 'draft.txt');
    writeFileSync(file, 'EDITED BY CLI\n');
    const ok = await cli(['approve', runId, '--edit-file', file, '--comment', 'fixed a typo']);
    expect(ok.code).toBe(0);
    // The command shows what it decides on, and sends that gate's digest with the decision.
    expect(ok.stderr).toBe("gate 'review' (draft) shows: DRAFT-CLI2\n");
    expect(ok.stdout).toBe(
      `approved gate 'review' of run ${runId}, with an edited draft (by cli-user: fixed a typo)\n`,
    );
    const cliResult = await baton.result(runId);
    expect(cliResult.output).toBe('CLI-PUBLISHED');
    expect(cliResult.decisions?.[0]?.digest).toBe((listed as { digest?: string }).digest);

    const again = await cli(['reject', runId, 'review', '--by', 'bob']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("gate 'review' was already decided: approved by cli-user");
  });
});
