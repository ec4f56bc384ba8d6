/**
 * Approval gates that hold under pressure, on the real server: a failed run releases its gates
 * and runs nothing more; decisions bind to what was shown (digests, `stale`); retry and fork
 * reuse an approval only for an unchanged gate; 500 gates in one run with linear history; runs
 * started without Baton's client are listed with their ensemble.
 */
import { spawn } from 'node:child_process';
import { payloadStoreFromEnv } from '../../src/payloads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { ApprovalRefusedError, RunFailedError, type BatonClient } from '../../src/client';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import {
  DECISION_REFUSED,
  RUN_WORKFLOW,
  SEARCH_ATTRIBUTES,
  decideSignal,
  decideUpdate,
  type RunInput,
} from '../../src/workflows/api';
import { gateDigest } from '../../src/workflows/digest';
import { replayHistory } from '../../src/replay';
import { bundleFor, startHarness, type Harness } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 2 };

/** Every call of the transfer tool, in order. */
const transfers: number[] = [];
const transfer = createTool({
  name: 'transfer',
  description: 'Send money.',
  input: z.object({ amount: z.number() }),
  requiresApproval: true,
  run: ({ amount }) => {
    transfers.push(amount);
    return `sent ${amount}`;
  },
});

let h: Harness;
let baton: BatonClient;
beforeAll(async () => {
  h = await startHarness({ tools: [transfer], workflowsPath: require.resolve('../support/gate-workflows') });
  baton = h.baton;
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  transfers.length = 0;
});

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
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

const waitForGates = (runId: string, n: number) =>
  eventually(async () => {
    const p = await baton.pendingApprovals(runId);
    return p.length >= n ? p : undefined;
  }, `${n} gates of ${runId}`);

async function refused(p: Promise<unknown>): Promise<ApprovalRefusedError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApprovalRefusedError);
    return err as ApprovalRefusedError;
  }
  throw new Error('the decision was accepted');
}

async function failed(p: Promise<unknown>): Promise<RunFailedError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RunFailedError);
    return err as RunFailedError;
  }
  throw new Error('the run completed');
}

/** The run's history replays cleanly against the current code (the patched paths are deterministic). */
async function expectReplays(runId: string): Promise<void> {
  const history = await baton.handle(runId).fetchHistory();
  const report = await replayHistory(history, runId, {
    workflowBundle: await bundleFor(require.resolve('../support/gate-workflows')),
  });
  expect(report).toMatchObject({ ok: true });
}

async function updatesAccepted(runId: string): Promise<number> {
  const events = (await baton.handle(runId).fetchHistory()).events ?? [];
  return events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

describe('a failed run stops acting', () => {
  test('a step fails while a sibling ReAct step waits at a tool gate: the gate is released, an approve is refused, the tool never runs', async () => {
    const m = `pay-${Math.random().toString(36).slice(2, 8)}`;
    h.fake.on(m, (req) =>
      req.messages.some((x) => x.role === 'tool')
        ? { text: 'paid' }
        : { toolCalls: [{ name: 'transfer', arguments: { amount: 500 } }] },
    );
    h.fake.on('check it', { status: 400, message: 'bad request: the check is malformed' });
    // A slow sibling keeps the failed run open for a while: decisions meet the validator.
    h.fake.on('slow sibling', { text: 'S', delayMs: 3_000 });
    const def: EnsembleDefinition = {
      name: 'release-tool-gate',
      steps: [
        {
          kind: 'agent',
          name: 'pay',
          dependsOn: [],
          profile,
          prompt: `${m} {{input}}`,
          tools: [{ name: 'transfer', requiresApproval: true }],
          maxIterations: 3,
          retry,
        },
        {
          kind: 'approval',
          name: 'go',
          dependsOn: [],
          present: 'Go with {{input}}?',
          deadline: '1h',
          onTimeout: 'reject',
        },
        { kind: 'agent', name: 'check', dependsOn: ['go'], profile, prompt: 'check it {{go}}', retry },
        { kind: 'agent', name: 'slow', dependsOn: ['go'], profile, prompt: 'slow sibling {{go}}', retry },
      ],
    };
    const { runId } = await baton.start(def, 'order 7', { runId: id('release-tool') });
    const pending = await waitForGates(runId, 2);
    const toolGate = pending.find((p) => p.kind === 'tool')!;
    expect(toolGate).toMatchObject({
      gate: 'pay:transfer',
      tool: { name: 'transfer', arguments: { amount: 500 } },
    });

    // Approving `go` lets `check` run, and it fails (400, not retried).
    const go = pending.find((p) => p.gate === 'go')!;
    await baton.approve(runId, { gate: 'go', digest: go.digest, by: 'alice' });
    const progress = await eventually(async () => {
      const p = await baton.progress(runId);
      return p.steps.find((s) => s.name === 'check')?.status === 'failed' ? p : undefined;
    }, 'check to fail');
    expect(progress.pendingApprovals ?? []).toEqual([]);

    // The tool gate was released: approving it is refused (by the validator while the run is
    // still open, as run-failed after it ended), and nothing is written to history.
    const r = await refused(
      baton.approve(runId, { gate: 'pay:transfer', digest: toolGate.digest, by: 'bob' }),
    );
    expect(r.reason).toBe('run-failed');
    expect(r.message).toMatch(/released without a decision|the run has failed/);

    const err = await failed(baton.result(runId));
    expect(err.step).toBe('check');
    const pay = err.progress!.steps.find((s) => s.name === 'pay')!;
    expect(pay.status).toBe('skipped');
    expect(pay.reason).toBe("released without a decision: step 'check' failed");
    // A call already running when the step failed finished, and its result is kept.
    expect(err.progress!.steps.find((s) => s.name === 'slow')).toMatchObject({
      status: 'completed',
      output: 'S',
    });
    expect(err.progress!.decisions).toEqual([
      expect.objectContaining({ gate: 'go', outcome: 'approved', by: 'alice' }),
      expect.objectContaining({
        gate: 'pay:transfer',
        outcome: 'released',
        by: 'run',
        via: 'release',
        digest: toolGate.digest,
        comment: "released without a decision: step 'check' failed",
      }),
    ]);
    expect(err.progress!.pendingApprovals).toBeUndefined();
    expect(await updatesAccepted(runId)).toBe(1); // only alice's
    // After the run ended, an approve says why in the same words.
    const late = await refused(baton.approve(runId, { gate: 'pay:transfer', by: 'bob' }));
    expect(late.reason).toBe('run-failed');
    // The tool never ran, and the agent made no model call after its first.
    expect(transfers).toEqual([]);
    expect(h.fake.count(m)).toBe(1);
    await expectReplays(runId);
  });

  test('while the failed run is still open, the Update validator refuses a decision as RunFailed', async () => {
    const m = `pay-${Math.random().toString(36).slice(2, 8)}`;
    h.fake.on(m, { toolCalls: [{ name: 'transfer', arguments: { amount: 1 } }] });
    h.fake.on('breaks now', { status: 400, message: 'bad request' });
    h.fake.on('hangs a while', { text: 'H', delayMs: 8_000 });
    const def: EnsembleDefinition = {
      name: 'release-validator',
      steps: [
        {
          kind: 'agent',
          name: 'pay',
          dependsOn: [],
          profile,
          prompt: `${m} {{input}}`,
          tools: [{ name: 'transfer', requiresApproval: true }],
          maxIterations: 3,
          retry,
        },
        { kind: 'approval', name: 'go', dependsOn: [], present: 'go?', deadline: '1h', onTimeout: 'reject' },
        { kind: 'agent', name: 'breaks', dependsOn: ['go'], profile, prompt: 'breaks now', retry },
        { kind: 'agent', name: 'hangs', dependsOn: ['go'], profile, prompt: 'hangs a while', retry },
      ],
    };
    const { runId } = await baton.start(def, 'x', { runId: id('release-validator') });
    const pending = await waitForGates(runId, 2);
    await baton.approve(runId, { gate: 'go', digest: pending.find((p) => p.gate === 'go')!.digest, by: 'a' });
    await eventually(async () => {
      const p = await baton.progress(runId);
      return p.steps.find((s) => s.name === 'breaks')?.status === 'failed' && p.status === 'running'
        ? true
        : undefined;
    }, 'breaks to fail while hangs still runs');
    try {
      await baton.handle(runId).executeUpdate(decideUpdate, {
        args: [{ gate: 'pay:transfer', outcome: 'approved', by: 'bob' }],
      });
      throw new Error('accepted');
    } catch (e) {
      const cause = (e as { cause?: { type?: string; message?: string } }).cause;
      expect(cause?.type).toBe(DECISION_REFUSED.runFailed);
      expect(cause?.message).toBe(
        "the run has failed (step 'breaks' failed); gate 'pay:transfer' was released without a decision and no gate can be decided",
      );
    }
    await failed(baton.result(runId));
    expect(transfers).toEqual([]);
  });
});

describe('approvals bind to what the person saw', () => {
  const twoGates = (name: string): EnsembleDefinition => ({
    name,
    steps: [
      {
        kind: 'approval',
        name: 'a',
        dependsOn: [],
        present: 'A: {{input}}',
        deadline: '1h',
        onTimeout: 'reject',
      },
      {
        kind: 'approval',
        name: 'b',
        dependsOn: [],
        present: 'B: {{input}}',
        deadline: '1h',
        onTimeout: 'reject',
      },
    ],
  });

  test('every pending gate shows its digest; a decision naming another digest is refused as stale and writes nothing', async () => {
    const { runId } = await baton.start(twoGates('digests'), 'x', { runId: id('stale') });
    const pending = await waitForGates(runId, 2);
    const a = pending.find((p) => p.gate === 'a')!;
    const b = pending.find((p) => p.gate === 'b')!;
    expect(a.digest).toBe(gateDigest({ kind: 'draft', draft: 'A: x' }));
    expect((await baton.progress(runId)).pendingApprovals?.map((p) => p.digest)).toEqual(
      pending.map((p) => p.digest),
    );

    // The person looked at gate b, but the decision lands on gate a: refused, nothing recorded.
    const r = await refused(baton.approve(runId, { gate: 'a', digest: b.digest, by: 'alice' }));
    expect(r.reason).toBe('stale');
    expect(r.message).toContain("gate 'a' shows something else than what was decided on");
    // Leaving the gate out while two wait is refused, naming both.
    expect((await refused(baton.approve(runId, { digest: a.digest, by: 'alice' }))).reason).toBe(
      'gate-required',
    );
    // A raw update naming a gate but no digest, while two wait: refused (it says what it saw by digest).
    const raw = await baton
      .handle(runId)
      .executeUpdate(decideUpdate, { args: [{ gate: 'a', outcome: 'approved', by: 'alice' }] })
      .catch((e: { cause?: { type?: string; message?: string } }) => e.cause);
    expect(raw).toMatchObject({ type: DECISION_REFUSED.invalid });
    expect((raw as { message: string }).message).toMatch(/pass the "digest"/);
    expect(await updatesAccepted(runId)).toBe(0);
    // A signal without a digest while two gates wait is ignored: gate a still waits, and the
    // decision below (an update) is the first one it gets.
    await baton.handle(runId).signal(decideSignal, { gate: 'a', outcome: 'rejected', by: 'mallory' });

    const d = await baton.approve(runId, { gate: 'a', digest: a.digest, by: 'alice' });
    expect(d).toMatchObject({ gate: 'a', outcome: 'approved', digest: a.digest });
    // The client given no digest reads the current one (its caller showed nothing).
    const d2 = await baton.approve(runId, { gate: 'b', by: 'bob' });
    expect(d2.digest).toBe(b.digest);
    const res = await baton.result(runId);
    expect(res.decisions?.map((x) => [x.gate, x.digest])).toEqual([
      ['a', a.digest],
      ['b', b.digest],
    ]);
  });

  test('a tool gate shows the digest of its call; edited arguments go with the digest of what was shown', async () => {
    const m = `pay-${Math.random().toString(36).slice(2, 8)}`;
    h.fake.on(m, (req) =>
      req.messages.some((x) => x.role === 'tool')
        ? { text: 'done' }
        : { toolCalls: [{ name: 'transfer', arguments: { amount: 70 } }] },
    );
    const def: EnsembleDefinition = {
      name: 'tool-digest',
      steps: [
        {
          kind: 'agent',
          name: 'pay',
          dependsOn: [],
          profile,
          prompt: `${m} {{input}}`,
          tools: [{ name: 'transfer', requiresApproval: true }],
          maxIterations: 3,
          retry,
        },
      ],
    };
    const { runId } = await baton.start(def, 'x', { runId: id('tool-digest') });
    const [g] = await waitForGates(runId, 1);
    expect(g!.digest).toBe(
      gateDigest({ kind: 'tool', tool: { name: 'transfer', arguments: { amount: 70 } } }),
    );
    const wrong = gateDigest({ kind: 'tool', tool: { name: 'transfer', arguments: { amount: 7 } } });
    expect((await refused(baton.approve(runId, { digest: wrong, by: 'x' }))).reason).toBe('stale');
    expect(transfers).toEqual([]);
    await baton.approve(runId, {
      gate: g!.gate,
      digest: g!.digest,
      by: 'x',
      editedArguments: { amount: 60 },
    });
    await baton.result(runId);
    expect(transfers).toEqual([60]);
  });

  test('fork with a new input asks again at an approval whose draft changed; an unchanged one, and a retry, reuse it', async () => {
    h.fake.on('Publish', (req) => ({ text: `PUBLISHED ${req.lastUserText}` }));
    const def: EnsembleDefinition = {
      name: 'fork-gates',
      steps: [
        {
          kind: 'approval',
          name: 'review',
          dependsOn: [],
          present: 'Ship {{input}}?',
          deadline: '1h',
          onTimeout: 'reject',
        },
        {
          kind: 'agent',
          name: 'publish',
          dependsOn: ['review'],
          profile,
          prompt: 'Publish {{review}}',
          retry,
        },
      ],
    };
    const { runId } = await baton.start(def, 'v1', { runId: id('fork-src') });
    await waitForGates(runId, 1);
    await baton.approve(runId, { by: 'alice' });
    expect((await baton.result(runId)).output).toBe('PUBLISHED Publish Ship v1?');

    // Same input: the approval of 'Ship v1?' stands; the fork runs without waiting.
    const same = await baton.fork(runId, { fromStep: 'publish' });
    const sameRes = await baton.result(same.runId);
    expect(sameRes.steps.find((s) => s.name === 'review')).toMatchObject({
      status: 'completed',
      reused: true,
    });
    expect(sameRes.decisions).toBeUndefined();

    // A new input: the gate would show 'Ship v2?', which nobody approved: it opens again.
    const changed = await baton.fork(runId, { fromStep: 'publish', input: 'v2' });
    const [g] = await waitForGates(changed.runId, 1);
    expect(g).toMatchObject({ gate: 'review', draft: 'Ship v2?' });
    expect(
      (await baton.progress(changed.runId)).steps.find((s) => s.name === 'review')?.reused,
    ).toBeUndefined();
    await baton.approve(changed.runId, { digest: g!.digest, by: 'bob' });
    expect((await baton.result(changed.runId)).output).toBe('PUBLISHED Publish Ship v2?');
    await expectReplays(same.runId);
    await expectReplays(changed.runId);

    // A retry of a run that failed after its approval reuses the approval (same gate, same draft).
    h.fake.reset();
    h.fake.on('Publish', { status: 400, message: 'bad request' });
    const broken = await baton.start(def, 'v3', { runId: id('retry-src') });
    await waitForGates(broken.runId, 1);
    await baton.approve(broken.runId, { by: 'carol' });
    await failed(baton.result(broken.runId));
    h.fake.reset();
    h.fake.on('Publish', { text: 'RETRIED' });
    const again = await baton.retry(broken.runId);
    const againRes = await baton.result(again.runId);
    expect(againRes.output).toBe('RETRIED');
    expect(againRes.steps.find((s) => s.name === 'review')).toMatchObject({
      status: 'completed',
      reused: true,
    });
  });

  test('a reused approval without a recorded digest (from before digests) is asked again', async () => {
    h.fake.on('Publish', { text: 'P' });
    const def: EnsembleDefinition = {
      name: 'no-digest-reuse',
      steps: [
        {
          kind: 'approval',
          name: 'review',
          dependsOn: [],
          present: 'Ship {{input}}?',
          deadline: '1h',
          onTimeout: 'reject',
        },
        {
          kind: 'agent',
          name: 'publish',
          dependsOn: ['review'],
          profile,
          prompt: 'Publish {{review}}',
          retry,
        },
      ],
    };
    const { runId } = await baton.start(def, 'v1', {
      runId: id('old-reuse'),
      resume: {
        reuse: { review: 'Ship v1?' },
        parent: { runId: 'older', kind: 'fork', fromStep: 'publish' },
      },
    });
    const [g] = await waitForGates(runId, 1);
    expect(g).toMatchObject({ gate: 'review', draft: 'Ship v1?' });
    await baton.approve(runId, { digest: g!.digest, by: 'x' });
    expect((await baton.result(runId)).output).toBe('P');
  });
});

describe('many gates', () => {
  /** Events and protobuf bytes of a run's history. */
  async function historyOf(runId: string): Promise<{ events: number; bytes: number }> {
    const history = await baton.handle(runId).fetchHistory();
    return {
      events: history.events?.length ?? 0,
      bytes: temporal.api.history.v1.History.encode(history as temporal.api.history.v1.IHistory).finish()
        .length,
    };
  }

  /** Start manyGates(n) with BatonEnsemble set, wait for every gate, check the listings, approve all. */
  async function openAndDecide(n: number): Promise<{ runId: string; listed: number; cli?: number }> {
    const runId = id(`many-${n}`);
    await h.baton.temporal.workflow.start('manyGates', {
      workflowId: runId,
      taskQueue: h.taskQueue,
      args: [n],
      memo: { ensemble: 'many-gates' },
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.ensemble, value: 'many-gates' }],
    });
    const pending = await eventually(
      async () => {
        const p = await baton.pendingApprovals(runId);
        return p.length === n ? p : undefined;
      },
      `${n} gates`,
      60_000,
    );
    const described = await baton.handle(runId).describe();
    // Bounded: the memo lists no gate beyond a handful, the attribute holds at most 5 ids.
    expect(described.memo?.pendingApprovalCount).toBe(n);
    expect(described.memo?.pendingApprovals).toBeUndefined();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pendingApprovals)).toEqual([
      'g0',
      'g1',
      'g2',
      'g3',
      'g4',
    ]);
    const listed = await eventually(async () => {
      const rows = (await baton.listPendingApprovals()).filter((r) => r.runId === runId);
      return rows.length === n ? rows : undefined;
    }, `${n} gates in listPendingApprovals`);
    expect(listed[0]).toMatchObject({ ensemble: 'many-gates', digest: expect.stringMatching(/^sha256:/) });
    expect(new Set(listed.map((r) => r.gate)).size).toBe(n);

    // Decide every gate, ten at a time, each with the digest the listing showed.
    const queue = [...pending];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let g = queue.shift(); g; g = queue.shift())
          await baton.approve(runId, { gate: g.gate, digest: g.digest, by: 'ops' });
      }),
    );
    expect(await h.baton.handle(runId).result()).toBe(n);
    return { runId, listed: listed.length };
  }

  test('500 gates open at once in one run: all listed (client and `baton approvals`), all decided, history linear in the gates', async () => {
    const small = await openAndDecide(100);
    const a = await historyOf(small.runId);
    await expectReplays(small.runId);

    // The big run: also listed by the CLI.
    const n = 500;
    const runId = id('many-cli');
    await h.baton.temporal.workflow.start('manyGates', {
      workflowId: runId,
      taskQueue: h.taskQueue,
      args: [n],
      memo: { ensemble: 'many-gates' },
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.ensemble, value: 'many-gates' }],
    });
    await eventually(
      async () => ((await baton.pendingApprovals(runId)).length === n ? true : undefined),
      'gates',
    );
    const cli = await eventually(async () => {
      const r = await batonCli(['approvals', '-o', 'json']);
      const rows = (JSON.parse(r.stdout) as { runId: string }[]).filter((row) => row.runId === runId);
      return rows.length === n ? rows : undefined;
    }, '500 gates in `baton approvals`');
    expect(cli).toHaveLength(n);
    await h.baton.handle(runId).terminate('listed by the CLI; the measured run is the next one');

    const big = await openAndDecide(500);
    const b = await historyOf(big.runId);
    const perGate = { small: a.bytes / 100, big: b.bytes / 500 };
    const eventsPerGate = { small: a.events / 100, big: b.events / 500 };
    // Linear: bytes and events per gate about the same at 100 and 500 gates (quadratic growth
    // would make the per-gate bytes five times larger).
    expect(perGate.big / perGate.small).toBeLessThan(1.2);
    expect(eventsPerGate.big / eventsPerGate.small).toBeLessThan(1.2);
    // Gate events bounded per gate: timer, memo and attribute upserts, the decision's update.
    expect(eventsPerGate.big).toBeLessThan(12);
    process.stdout.write(
      `many gates: 100 gates ${a.events} events ${a.bytes} bytes; 500 gates ${b.events} events ${b.bytes} bytes; ` +
        `${perGate.small.toFixed(0)} / ${perGate.big.toFixed(0)} bytes per gate\n`,
    );
  }, 300_000);
});

/** Run the real `baton` command against the test server. */
function batonCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { address, namespace } = testTemporal();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(__dirname, '..', '..', 'bin', 'baton.js'), ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: tmpdir(),
        BATON_FROM_SOURCE: '1',
        // Payloads over the threshold (a list of 500 gates) are in the workers' payload store: the same one.
        BATON_PAYLOAD_STORE: payloadStoreFromEnv()!.store.location,
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

describe('runs started outside Baton', () => {
  test('a batonRun started by a plain workflow.start (no search attributes, no memo) is listed with its ensemble name', async () => {
    const definition: EnsembleDefinition = {
      name: 'outside-start',
      steps: [
        {
          kind: 'approval',
          name: 'ok',
          dependsOn: [],
          present: 'OK {{input}}?',
          deadline: '1h',
          onTimeout: 'reject',
        },
      ],
    };
    const runId = id('outside');
    const input: RunInput = { definition, input: 'x' };
    await h.baton.temporal.workflow.start(RUN_WORKFLOW, {
      workflowId: runId,
      taskQueue: h.taskQueue,
      args: [input],
    });
    await waitForGates(runId, 1);
    const row = await eventually(
      async () => (await baton.listPendingApprovals()).find((r) => r.runId === runId),
      'the run in listPendingApprovals',
    );
    expect(row).toMatchObject({ gate: 'ok', ensemble: 'outside-start', summary: 'OK x?' });
    // The run wrote its ensemble name to its memo when the gate opened.
    expect((await baton.handle(runId).describe()).memo?.ensemble).toBe('outside-start');
    const run = await eventually(
      async () => (await baton.listRuns({ limit: 200 })).find((r) => r.runId === runId),
      'the run in listRuns',
    );
    expect(run).toMatchObject({ ensemble: 'outside-start', status: 'RUNNING' });
    await baton.approve(runId, { by: 'alice' });
    expect((await baton.result(runId)).output).toBe('OK x?');
    // Ended runs keep their name in the listing.
    const ended = await eventually(
      async () =>
        (await baton.listRuns({ limit: 200 })).find((r) => r.runId === runId && r.status === 'COMPLETED'),
      'the ended run in listRuns',
    );
    expect(ended.ensemble).toBe('outside-start');
  });
});
