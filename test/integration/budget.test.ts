/**
 * Budgets on the real server with the wire-level fake counting requests: one ledger per run,
 * reservations before calls, the budget gate, child allowances, billed failed attempts, lineage.
 */
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { RunFailedError } from '../../src/client';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { progressQuery, type PendingApproval, type RunProgress } from '../../src/workflows/api';
import { worstCaseOf } from '../../src/workflows/ledger';
import type { SupervisorResult } from '../../src/workflows/patterns';
import { fetchRunHistory, replayHistory } from '../../src/replay';
import type { FakeRequest } from '../support/fake-model-server';
import {
  patternsBundle,
  startPatternsHarness,
  uniqueId,
  type PatternsHarness,
} from '../support/patterns-harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test', maxTokens: 20 };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };

const lookup = createTool({
  name: 'lookup',
  description: 'Look a fact up.',
  input: z.object({ key: z.string() }),
  run: ({ key }) => `fact about ${key}`,
});

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [lookup] });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

/** Poll until `fn` returns a value (not undefined) or throw after `ms`. */
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

const waitForBudgetGate = (runId: string, gate = 'budget'): Promise<PendingApproval> =>
  eventually(
    async () => (await h.baton.pendingApprovals(runId)).find((p) => p.gate === gate && p.kind === 'budget'),
    `budget gate of ${runId}`,
  );

const items = (n: number, t: string) =>
  Array.from({ length: n }, (_, i) => `${t}-${String(i).padStart(2, '0')}`);

/** `list` answers a JSON array of items; `each` fans out over it, one call per item. */
function fanOutDef(t: string, budget: EnsembleDefinition['budget']): EnsembleDefinition {
  return {
    name: 'fan-budget',
    budget,
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `List ${t} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: 'Item {{item}}',
        fanOut: { from: 'list' },
        retry,
      },
    ],
  };
}

/** The worst case the ledger reserves for one fan-out instance, and a fake usage that costs exactly that. */
function perItem(item: string) {
  const worst = worstCaseOf({ profile, messages: [{ role: 'user', content: `Item ${item}` }] });
  return { worst, usage: { input: worst.tokens - 20, output: 20 } };
}

function scriptFanOut(t: string, n: number) {
  const list = items(n, t);
  const { worst, usage } = perItem(list[0]!);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list), usage: { input: 1, output: 1 } });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({
      text: `done ${r.lastUserText}`,
      usage,
    }),
  );
  return { list, worst };
}

test('a 50-wide fan-out under a budget for 5 calls makes 5 calls, waits at one budget gate, and a raised budget finishes it with no call repeated', async () => {
  const t = `fan${Math.random().toString(36).slice(2, 7)}`;
  const { list, worst } = scriptFanOut(t, 50);
  // The list call settles at 2 tokens; then room for exactly 5 instances at their worst case.
  const limit = 2 + 5 * worst.tokens;
  const runId = uniqueId('budget-fan');
  await h.baton.start(fanOutDef(t, { maxTokens: limit }), 'go', { runId });

  const gate = await waitForBudgetGate(runId);
  expect(h.fake.count(`Item ${t}-`)).toBe(5);
  expect(gate.step).toBe('each');
  expect(gate.summary).toMatch(new RegExp(`used ${limit} tokens of max_tokens ${limit}`));
  expect(gate.budget?.limit).toEqual({ maxTokens: limit });
  expect(gate.budget?.spent.tokens).toBe(limit);
  expect(gate.budget?.needed).toEqual(worst);
  // One gate for the run: the 45 waiting instances all wait on it.
  const progress = await h.baton.progress(runId);
  expect(progress.pendingApprovals?.map((p) => [p.gate, p.kind])).toEqual([['budget', 'budget']]);
  expect(progress.budget).toMatchObject({ limit: { maxTokens: limit }, spent: { tokens: limit } });
  // Listed with the other approvals.
  const listed = await eventually(
    async () => (await h.baton.listPendingApprovals()).find((g) => g.runId === runId),
    'the budget gate in listPendingApprovals',
  );
  expect(listed).toMatchObject({ gate: 'budget', kind: 'budget', step: 'each' });

  // An approval without a new limit, or one that does not raise it, is refused.
  await expect(h.baton.approve(runId, { gate: 'budget', by: 'alice' })).rejects.toThrow(
    /needs the new limit/,
  );
  await expect(
    h.baton.approve(runId, { gate: 'budget', by: 'alice', budget: { maxTokens: limit } }),
  ).rejects.toThrow(/does not raise the budget/);

  const d = await h.baton.approve(runId, {
    gate: 'budget',
    by: 'alice',
    comment: 'worth it',
    budget: { maxTokens: 2 + 50 * worst.tokens },
  });
  expect(d).toMatchObject({ outcome: 'approved', budget: { maxTokens: 2 + 50 * worst.tokens } });

  const result = await h.baton.result(runId);
  expect(result.status).toBe('completed');
  expect(JSON.parse(result.output)).toHaveLength(50);
  for (const item of list) expect(h.fake.count(`Item ${item}`)).toBe(1);
  expect(h.fake.count()).toBe(51);
  expect(result.budget).toMatchObject({
    limit: { maxTokens: 2 + 50 * worst.tokens },
    spent: { tokens: 2 + 50 * worst.tokens },
    reserved: { tokens: 0 },
  });
  expect(result.decisions?.map((x) => [x.gate, x.outcome, x.by])).toEqual([['budget', 'approved', 'alice']]);
  // The waits, the gate and the raise replay deterministically.
  const report = await replayHistory(await fetchRunHistory(h.client, runId), runId, {
    workflowBundle: await patternsBundle(),
  });
  expect(report).toMatchObject({ ok: true });
});

test('a call that does not fit while others are in flight waits for them to settle, and starts when it fits', async () => {
  const t = `inf${Math.random().toString(36).slice(2, 7)}`;
  const list = items(4, t);
  const { worst } = perItem(list[0]!);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list), usage: { input: 1, output: 1 } });
  // Each instance reserves its worst case but settles at 2 tokens.
  h.fake.on((r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`), {
    text: 'ok',
    usage: { input: 1, output: 1 },
  });
  // Room for two instances at their worst case at a time; four run, one after another as room frees.
  const result = await h.baton.run(fanOutDef(t, { maxTokens: 2 + 2 * worst.tokens }), 'go', {
    runId: uniqueId('budget-inflight'),
  });
  expect(result.status).toBe('completed');
  for (const item of list) expect(h.fake.count(`Item ${item}`)).toBe(1);
  expect(result.decisions).toBeUndefined();
  expect(result.budget?.spent.tokens).toBe(2 + 4 * 2);
});

test('a rejection at the budget gate fails the run with BudgetExceeded naming the spent and the limit', async () => {
  const t = `rej${Math.random().toString(36).slice(2, 7)}`;
  const { worst } = scriptFanOut(t, 6);
  const limit = 2 + 2 * worst.tokens;
  const runId = uniqueId('budget-reject');
  await h.baton.start(fanOutDef(t, { maxTokens: limit }), 'go', { runId });
  await waitForBudgetGate(runId);
  await h.baton.reject(runId, { gate: 'budget', by: 'bob', comment: 'too dear' });

  const err = (await h.baton.result(runId).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.type).toBe('BudgetExceeded');
  expect(err.message).toContain(`used ${limit} tokens of max_tokens ${limit}`);
  expect(err.message).toContain('stopped by bob: too dear');
  expect(h.fake.count(`Item ${t}-`)).toBe(2);
});

test('without a decision by gate_deadline the run fails with BudgetExceeded; on_exceeded: fail opens no gate', async () => {
  const t = `dl${Math.random().toString(36).slice(2, 7)}`;
  const { worst } = scriptFanOut(t, 4);
  const limit = 2 + worst.tokens;
  const err = (await h.baton
    .run(fanOutDef(t, { maxTokens: limit, gateDeadline: '1s' }), 'go', { runId: uniqueId('budget-deadline') })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err.type).toBe('BudgetExceeded');
  expect(err.message).toContain(`used ${limit} tokens of max_tokens ${limit}`);
  expect(err.message).toMatch(/no decision at the budget gate: no decision within 1s/);
  expect(err.progress?.decisions?.map((d) => [d.gate, d.outcome, d.by])).toEqual([
    ['budget', 'rejected', 'deadline'],
  ]);
  expect(h.fake.count(`Item ${t}-`)).toBe(1);

  h.fake.reset();
  const u = `fail${Math.random().toString(36).slice(2, 7)}`;
  const s = scriptFanOut(u, 4);
  const failFast = (await h.baton
    .run(fanOutDef(u, { maxTokens: 2 + s.worst.tokens, onExceeded: 'fail' }), 'go', {
      runId: uniqueId('budget-fail'),
    })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(failFast.type).toBe('BudgetExceeded');
  expect(failFast.message).toContain(`used ${2 + s.worst.tokens} tokens of max_tokens ${2 + s.worst.tokens}`);
  expect(failFast.progress?.decisions).toBeUndefined();
  expect(h.fake.count(`Item ${u}-`)).toBe(1);
});

test('supervisor sub-agents draw allowances from the parent: what the children spend never exceeds its budget', async () => {
  const t = Math.random().toString(36).slice(2, 8);
  const lead = `lead ${t}`;
  h.fake.on(
    (r) => r.system === lead,
    (_r, n) => ({
      text: JSON.stringify(
        n === 0
          ? {
              action: 'delegate',
              delegations: [
                { agent: 'researcher', task: 'dig into a' },
                { agent: 'researcher', task: 'dig into b' },
              ],
              answer: '',
            }
          : { action: 'finish', delegations: [], answer: 'DONE' },
      ),
      usage: { input: 50, output: 10 },
    }),
  );
  // A researcher that never stops looking things up: only its allowance stops it.
  h.fake.on(
    (r) => r.system === `researcher ${t}`,
    (_r, n) => ({
      toolCalls: [{ id: `c${n}`, name: 'lookup', arguments: { key: `k${n}` } }],
      usage: { input: 100, output: 20 },
    }),
  );
  const budget = { maxTokens: 2000 };
  const workflowId = uniqueId('budget-supervisor');
  const handle = await h.start(
    'supervisorWorkflow',
    {
      input: 'research',
      budget,
      supervisor: { name: 'lead', profile: { ...profile, maxTokens: 200 }, system: lead },
      agents: [
        {
          name: 'researcher',
          profile,
          system: `researcher ${t}`,
          description: 'finds facts',
          tools: ['lookup'],
          maxIterations: 30,
        },
      ],
      maxRounds: 2,
    },
    workflowId,
  );

  const res = (await handle.result()) as RunProgress & { result: SupervisorResult };
  expect(res.output).toBe('DONE');
  // Each child stopped at its allowance (BudgetExceeded, reported to the lead), and gave back the rest.
  const children = res.steps.filter((s) => s.name.startsWith('researcher#'));
  expect(children.map((c) => [c.name, c.status, c.error?.type])).toEqual([
    ['researcher#1.1', 'failed', 'BudgetExceeded'],
    ['researcher#1.2', 'failed', 'BudgetExceeded'],
  ]);
  expect(h.fake.count((r) => r.system === `researcher ${t}`)).toBeGreaterThan(2);
  const childTokens = children.reduce((n, c) => n + c.usage.inputTokens + c.usage.outputTokens, 0);
  expect(childTokens).toBeLessThanOrEqual(budget.maxTokens);
  expect(res.budget!.spent.tokens).toBeLessThanOrEqual(budget.maxTokens);
  expect(res.budget!.reserved.tokens).toBe(0);
  // Each child ran under its own allowance; together the allowances fit in what the parent had left.
  const allowances: number[] = [];
  for (const n of ['1.1', '1.2']) {
    const p: RunProgress = await h.client.workflow
      .getHandle(`${workflowId}/researcher-${n}`)
      .query(progressQuery);
    allowances.push(p.budget!.limit!.maxTokens!);
    expect(p.budget!.spent.tokens).toBeLessThanOrEqual(p.budget!.limit!.maxTokens!);
  }
  // The lead's first call settled at 60 tokens; the two children split the rest.
  expect(allowances).toEqual([970, 970]);
  for (const id of [workflowId, `${workflowId}/researcher-1.1`]) {
    const report = await replayHistory(await fetchRunHistory(h.client, id), id, {
      workflowBundle: await patternsBundle(),
    });
    expect(report).toMatchObject({ ok: true });
  }
});

test('an attempt cut off without an answer is counted at its worst case; one answered with 429 is not', async () => {
  const t = `att${Math.random().toString(36).slice(2, 7)}`;
  const req = { profile, messages: [{ role: 'user' as const, content: `Attempt ${t} cut` }] };
  const worst = worstCaseOf(req).tokens;
  // Newer rules are tried first: the fault once, then the answer.
  h.fake.on(`Attempt ${t} cut`, { text: 'ok', usage: { input: 5, output: 5 } });
  h.fake.on(`Attempt ${t} cut`, { cut: true }, { times: 1 });
  h.fake.on(`Attempt ${t} busy`, { text: 'ok', usage: { input: 5, output: 5 } });
  h.fake.on(`Attempt ${t} busy`, { status: 429, headers: { 'retry-after-ms': '100' } }, { times: 1 });
  const def = (what: string): EnsembleDefinition => ({
    name: 'attempts',
    budget: { maxTokens: 100_000 },
    steps: [{ kind: 'agent', name: 'a', dependsOn: [], profile, prompt: `Attempt ${t} ${what}`, retry }],
  });

  const cut = await h.baton.run(def('cut'), 'x', { runId: uniqueId('budget-cut') });
  expect(h.fake.count(`Attempt ${t} cut`)).toBe(2);
  expect(cut.budget?.spent.tokens).toBe(worst + 10);
  expect(cut.usage).toMatchObject({ inputTokens: 5, outputTokens: 5 });

  const busy = await h.baton.run(def('busy'), 'x', { runId: uniqueId('budget-429') });
  expect(h.fake.count(`Attempt ${t} busy`)).toBe(2);
  expect(busy.budget?.spent.tokens).toBe(10);

  // An attempt that timed out (no answer within the step's timeout) counts at its worst case too.
  h.fake.on(`Attempt ${t} slow`, { text: 'ok', usage: { input: 5, output: 5 } });
  h.fake.on(`Attempt ${t} slow`, { text: 'late', delayMs: 5000 }, { times: 1 });
  const slowWorst = worstCaseOf({ profile, messages: [{ role: 'user', content: `Attempt ${t} slow` }] });
  const slow = await h.baton.run(
    {
      ...def('slow'),
      steps: [{ ...def('slow').steps[0]!, timeout: '1s' } as EnsembleDefinition['steps'][0]],
    },
    'x',
    { runId: uniqueId('budget-timeout') },
  );
  expect(h.fake.count(`Attempt ${t} slow`)).toBe(2);
  expect(slow.budget?.spent.tokens).toBe(slowWorst.tokens + 10);

  // Every attempt cut: the step fails, and the failed run's ledger counts each attempt.
  h.fake.on(`Attempt ${t} dead`, { cut: true });
  const dead = (await h.baton
    .run(def('dead'), 'x', { runId: uniqueId('budget-dead') })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(dead).toBeInstanceOf(RunFailedError);
  expect(h.fake.count(`Attempt ${t} dead`)).toBe(3);
  const deadWorst = worstCaseOf({ profile, messages: [{ role: 'user', content: `Attempt ${t} dead` }] });
  expect(dead.progress?.budget?.spent.tokens).toBe(3 * deadWorst.tokens);
});

test("retry and fork show the parent's spending, and a lineage budget counts it", async () => {
  const t = `lin${Math.random().toString(36).slice(2, 7)}`;
  h.fake.on(`First ${t}`, { text: 'A', usage: { input: 40, output: 10 } });
  h.fake.on(`Second ${t}`, { text: 'B', usage: { input: 40, output: 10 } });
  h.fake.on(`Second ${t}`, { status: 400, message: 'bad' }, { times: 1 });
  const def: EnsembleDefinition = {
    name: 'lineage-budget',
    budget: { maxTokens: 10_000 },
    steps: [
      { kind: 'agent', name: 'a', dependsOn: [], profile, prompt: `First ${t} {{input}}` },
      { kind: 'agent', name: 'b', dependsOn: ['a'], profile, prompt: `Second ${t} {{a}}` },
    ],
  };
  const runId = uniqueId('budget-lineage');
  await h.baton.run(def, 'x', { runId }).catch(() => undefined);

  const plain = await h.baton.retry(runId);
  const r1 = await h.baton.result(plain.runId);
  expect(r1.budget).toMatchObject({ lineage: { tokens: 50 }, spent: { tokens: 50 } });
  expect(r1.budget?.lineageCounted).toBeUndefined();

  const counted = await h.baton.fork(plain.runId, { fromStep: 'b', lineageBudget: true });
  const r2 = await h.baton.result(counted.runId);
  // The fork's lineage: the first run's 50 and the retry's 50; counted in, plus its own call.
  expect(r2.budget).toMatchObject({ lineage: { tokens: 100 }, spent: { tokens: 150 }, lineageCounted: true });
});

test('a loop that continues as new carries its ledger: the spending and a limit raised at the gate', async () => {
  const t = `can${Math.random().toString(36).slice(2, 7)}`;
  h.fake.on(new RegExp(`${t} (seed|Iteration|Judge)`), {
    text: '{"pass": false}',
    usage: { input: 10, output: 20 },
  });
  const def: EnsembleDefinition = {
    name: 'budget-loop',
    budget: { maxTokens: 300 },
    steps: [
      { kind: 'agent', name: 'seed', dependsOn: [], profile, prompt: `${t} seed {{input}}` },
      {
        kind: 'loop',
        name: 'refine',
        dependsOn: ['seed'],
        maxIterations: 8,
        until: { ref: 'critic.pass', op: 'truthy' },
        body: [
          {
            kind: 'agent',
            name: 'writer',
            dependsOn: [],
            profile,
            prompt: `${t} Iteration {{loop.iteration}}`,
          },
          { kind: 'agent', name: 'critic', dependsOn: ['writer'], profile, prompt: `${t} Judge {{writer}}` },
        ],
      },
    ],
  };
  const runId = uniqueId('budget-loop');
  await h.baton.start(def, 'x', { runId, options: { continueAsNewAfterEvents: 30 } });
  await waitForBudgetGate(runId);
  await h.baton.approve(runId, { gate: 'budget', by: 'dana', budget: { maxTokens: 10_000 } });
  const result = await h.baton.result(runId);
  expect(result.parent?.kind).toBe('continue-as-new');
  expect(h.fake.count(t)).toBe(17);
  expect(result.budget).toMatchObject({ limit: { maxTokens: 10_000 }, spent: { tokens: 17 * 30 } });
});
