/**
 * Baton's workflow modules are preloaded (src/worker.ts, batonBundlerOptions; the test harness
 * bundles them the same way, as `baton worker`'s prebuilt bundle is): every run in a worker shares
 * one copy. First, that sharing is real: a module with a module-level counter, preloaded, counts
 * across runs. Then two Baton runs side by side in one worker, interleaved (both parked on a gate,
 * decided in the other order), each end with their own output, gate digest, search attribute,
 * usage, cost and ledger, the same as a run of the same input on its own: any state a shared
 * module kept between runs (a ledger total, the gate ids last published) would show here.
 */
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import type { AgentStep, EnsembleDefinition, ModelProfile } from '../../src/types';
import { SEARCH_ATTRIBUTES, type PendingApproval } from '../../src/workflows/api';
import { installQuietRuntime, startHarness, type Harness } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

test('a preloaded module is one copy for all runs of a worker: its module-level counter counts across runs', async () => {
  installQuietRuntime();
  const probe = require.resolve('../support/preload-probe-workflows');
  const { connectionOptions, namespace } = testTemporal();
  const native = await NativeConnection.connect(connectionOptions);
  const taskQueue = id('preload-probe');
  const worker = await Worker.create({
    connection: native,
    namespace,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: probe,
      preloadModules: [probe],
      logger: new DefaultLogger('WARN'),
    }),
  });
  try {
    const counts = await worker.runUntil(async () => {
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        seen.push(
          await h.baton.temporal.workflow.execute('preloadProbe', { taskQueue, workflowId: id('probe') }),
        );
      }
      return seen;
    });
    expect(counts).toEqual([1, 2, 3]);
  } finally {
    await native.close();
  }
});

const profile: ModelProfile = {
  name: 'oa',
  provider: 'openai',
  model: 'gpt-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 2 },
};
const agent = (name: string, prompt: string, dependsOn: string[] = []): AgentStep => ({
  kind: 'agent',
  name,
  profile,
  prompt,
  dependsOn,
});
/** draft (a model call) → review (a gate showing the draft) → publish (a model call on the approved text). */
const reviewed: EnsembleDefinition = {
  name: 'preload-side-by-side',
  budget: { maxCostUsd: 5 },
  steps: [
    agent('draft', 'Draft about {{input}}'),
    {
      kind: 'approval',
      name: 'review',
      dependsOn: ['draft'],
      present: '{{steps.draft}}',
      deadline: '1h',
      onTimeout: 'reject',
    },
    agent('publish', 'Publish: {{review}}', ['review']),
  ],
};

async function waitForGate(runId: string): Promise<PendingApproval> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const gate = (await h.baton.pendingApprovals(runId).catch(() => [])).find((p) => p.gate === 'review');
    if (gate) return gate;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no gate of ${runId} waits`);
}

test('two runs side by side in one worker keep their own output, digest, search attribute, usage, cost and ledger', async () => {
  h.fake.on('Draft about alpha', { text: 'DRAFT-ALPHA', usage: { input: 100, output: 10 } });
  h.fake.on('Draft about beta', { text: 'DRAFT-BETA, longer', usage: { input: 1000, output: 50 } });
  h.fake.on('Publish: DRAFT-ALPHA', { text: 'PUBLISHED-ALPHA', usage: { input: 7, output: 3 } });
  h.fake.on('Publish: DRAFT-BETA', { text: 'PUBLISHED-BETA', usage: { input: 20000, output: 400 } });

  const [alpha, beta] = await Promise.all([
    h.baton.start(reviewed, 'alpha', { runId: id('alpha') }),
    h.baton.start(reviewed, 'beta', { runId: id('beta') }),
  ]);
  const [gateA, gateB] = await Promise.all([waitForGate(alpha.runId), waitForGate(beta.runId)]);
  expect([gateA.draft, gateB.draft]).toEqual(['DRAFT-ALPHA', 'DRAFT-BETA, longer']);
  expect(gateA.digest).not.toBe(gateB.digest);
  // Each run published its own waiting gate (the gate ids last published are kept per run).
  for (const runId of [alpha.runId, beta.runId]) {
    const described = await h.baton.handle(runId).describe();
    expect(described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pendingApprovals)).toEqual(['review']);
  }

  // Decided in the other order than started; each decision binds to its own run's digest.
  const decidedB = await h.baton.approve(beta.runId, { by: 'bob' });
  const decidedA = await h.baton.approve(alpha.runId, { by: 'alice' });
  expect(decidedA.digest).toBe(gateA.digest);
  expect(decidedB.digest).toBe(gateB.digest);
  const [a, b] = await Promise.all([h.baton.result(alpha.runId), h.baton.result(beta.runId)]);

  expect(a.output).toBe('PUBLISHED-ALPHA');
  expect(b.output).toBe('PUBLISHED-BETA');
  expect(a.usage).toEqual({ inputTokens: 107, outputTokens: 13, cachedInputTokens: 0 });
  expect(b.usage).toEqual({ inputTokens: 21000, outputTokens: 450, cachedInputTokens: 0 });
  // $1 and $2 per million input and output tokens.
  expect(a.costUsd).toBeCloseTo(0.000133, 9);
  expect(b.costUsd).toBeCloseTo(0.0219, 9);
  expect(a.budget?.spent).toEqual({ tokens: 120, costUsd: a.costUsd });
  expect(b.budget?.spent).toEqual({ tokens: 21450, costUsd: b.costUsd });
  expect(a.budget?.reserved).toEqual({ tokens: 0, costUsd: 0 });
  expect(b.budget?.reserved).toEqual({ tokens: 0, costUsd: 0 });
  expect(a.decisions?.map((d) => [d.gate, d.by, d.digest])).toEqual([['review', 'alice', gateA.digest]]);
  expect(b.decisions?.map((d) => [d.gate, d.by, d.digest])).toEqual([['review', 'bob', gateB.digest]]);

  // The same input on its own, after: the same digest, output, usage, cost and ledger as side by side.
  const alone = await h.baton.start(reviewed, 'alpha', { runId: id('alpha-alone') });
  const gateAlone = await waitForGate(alone.runId);
  expect(gateAlone.digest).toBe(gateA.digest);
  await h.baton.approve(alone.runId, { by: 'alice' });
  const c = await h.baton.result(alone.runId);
  expect({ output: c.output, usage: c.usage, costUsd: c.costUsd, spent: c.budget?.spent }).toEqual({
    output: a.output,
    usage: a.usage,
    costUsd: a.costUsd,
    spent: a.budget?.spent,
  });
});
