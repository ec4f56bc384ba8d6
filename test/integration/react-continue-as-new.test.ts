/**
 * A long ReAct step continues its run as new (patch 'baton-react-continue-as-new'): once history
 * holds `continueAsNewAfterEvents` events and the step runs alone, the run goes on as a new
 * execution that picks the step up where it stopped: same conversation, same model-call count
 * against max_iterations, the ledger and the tool-call counter carried, one step in progress.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFailedError } from '../../src/client';
import { defaultPayloadDir } from '../../src/payloads/store';
import { replayHistory } from '../../src/replay';
import type { EnsembleDefinition } from '../../src/types';
import { runBaton } from '../support/cli';
import { startHarness, workflowBundle, type Harness } from '../support/harness';
import {
  agent,
  chainOf as chainOf_,
  createWalker,
  EVENTS,
  marker,
  profile,
  scriptAgent as scriptAgent_,
  toolResults,
  until,
  USAGE,
} from '../support/react-walker';

const walker = createWalker();
const { calls } = walker;
const scriptAgent = (m: string, turns: number) => scriptAgent_(h.fake, m, turns);
const chainOf = (runId: string) => chainOf_(h.baton.temporal, runId);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ tools: [walker.tool] });
});
afterAll(async () => {
  walker.release();
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  walker.reset();
});

test('a 60-turn ReAct step continues as new and completes with the same answer, each tool call made once, one step in progress', async () => {
  const m = marker('walk');
  const side = marker('side');
  const after = marker('after');
  scriptAgent(m, 60);
  h.fake.on(side, { text: 'side done', usage: USAGE });
  h.fake.on(after, { text: 'summary done', usage: USAGE });
  const def: EnsembleDefinition = {
    name: 'react-can',
    steps: [
      agent(m),
      // Beside the agent: runs once, is not repeated by the continuations.
      { kind: 'agent', name: 'side', dependsOn: [], profile, prompt: `${side}: note` },
      {
        kind: 'agent',
        name: 'after',
        dependsOn: ['walker', 'side'],
        profile,
        prompt: `${after}: {{walker}}`,
      },
    ],
  };
  const runId = `react-can-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  const result = await h.baton.result(runId);

  expect(result.output).toBe('summary done');
  expect(result.steps.find((s) => s.name === 'walker')?.output).toBe('finished after 60 steps');
  // The model read every earlier result each time: the conversation carried across the boundary.
  expect(h.fake.requests.filter((r) => r.allText.includes(m)).map(toolResults)).toEqual(
    Array.from({ length: 61 }, (_, i) => i),
  );
  expect(h.fake.count(side)).toBe(1);
  expect(h.fake.count(after)).toBe(1);
  expect(h.fake.requests.find((r) => r.allText.includes(after))?.allText).toContain(
    'finished after 60 steps',
  );

  // Each call once, in order, each with its own key, as without continuing.
  expect(calls.map((c) => c.n)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 60 }, (_, i) => `${runId}/walker#${i + 1}`));

  // Continued as new at least twice, every execution under the limit (plus the turn that crossed it).
  const chain = await chainOf(runId);
  expect(chain.length).toBeGreaterThanOrEqual(3);
  for (const history of chain) expect(history.events!.length).toBeLessThan(EVENTS + 40);
  console.log(
    `react-can: 60 turns -> ${chain.length} executions of ${chain.map((c) => c.events!.length).join(', ')} events`,
  );
  expect(result.parent?.kind).toBe('continue-as-new');

  // One step in progress and in the result: all its calls, usage and cost, counted once.
  const walkers = result.steps.filter((s) => s.name.startsWith('walker'));
  expect(walkers).toHaveLength(1);
  expect(walkers[0]).toMatchObject({ status: 'completed', calls: 61, toolCalls: 60 });
  expect(walkers[0]!.usage).toMatchObject({ inputTokens: 61 * 7, outputTokens: 61 * 10 });
  expect(walkers[0]!.costUsd).toBe(610);
  expect(result.usage).toMatchObject({ inputTokens: 63 * 7, outputTokens: 63 * 10 });
  expect(result.costUsd).toBe(630);
  const progress = await h.baton.progress(runId);
  expect(progress.steps.filter((s) => s.name === 'walker')).toHaveLength(1);
  expect(progress.steps.find((s) => s.name === 'walker')).toMatchObject({ calls: 61, toolCalls: 60 });

  // `baton status` (the CLI, another process) shows the same: one step, every call.
  const cli = await runBaton(['status', runId, '-o', 'json'], {
    cwd: mkdtempSync(join(tmpdir(), 'baton-react-can-')),
    env: { BATON_PAYLOAD_STORE: process.env.BATON_PAYLOAD_STORE ?? defaultPayloadDir() },
  });
  expect(cli.code).toBe(0);
  const shown = JSON.parse(cli.stdout) as {
    output: string;
    steps: { name: string; calls: number; toolCalls?: number }[];
  };
  expect(shown.output).toBe('summary done');
  expect(shown.steps.filter((s) => s.name === 'walker')).toEqual([
    expect.objectContaining({ calls: 61, toolCalls: 60, status: 'completed' }),
  ]);

  // Every execution of the chain replays on this code.
  const bundle = await workflowBundle();
  for (const history of chain)
    expect(await replayHistory(history, runId, { workflowBundle: bundle })).toMatchObject({ ok: true });
}, 300_000);

test('max_iterations counts model calls across the boundary', async () => {
  const m = marker('endless');
  scriptAgent(m, Infinity);
  const def: EnsembleDefinition = { name: 'react-can-max', steps: [agent(m, { maxIterations: 30 })] };
  const runId = `react-can-max-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  const err = (await h.baton.result(runId).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain('made 30 model calls (max_iterations)');
  expect(h.fake.count(m)).toBe(30);
  expect(calls).toHaveLength(30);
  expect((await chainOf(runId)).length).toBeGreaterThanOrEqual(3);
}, 300_000);

test('a budget for exactly 25 calls stops at the budget gate after 25 calls, across continuations', async () => {
  const m = marker('budget');
  scriptAgent(m, 60);
  const def: EnsembleDefinition = {
    name: 'react-can-budget',
    budget: { maxCostUsd: 250 },
    steps: [agent(m)],
  };
  const runId = `react-can-budget-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  const gate = await until('the budget gate', async () =>
    (await h.baton.pendingApprovals(runId).catch(() => [])).find((g) => g.kind === 'budget'),
  );
  expect(gate.budget?.spent.costUsd).toBe(250);
  expect(h.fake.count(m)).toBe(25);
  expect(calls).toHaveLength(25);
  expect(new Set(calls.map((c) => c.key)).size).toBe(25);
  expect((await chainOf(runId)).length).toBeGreaterThanOrEqual(3);
  const progress = await h.baton.progress(runId);
  expect(progress.budget).toMatchObject({ spent: { costUsd: 250 }, limit: { maxCostUsd: 250 } });
  expect(progress.steps.find((s) => s.name === 'walker')).toMatchObject({ calls: 25, toolCalls: 25 });

  await h.baton.reject(runId, { gate: 'budget', by: 'bob', comment: 'enough' });
  const err = (await h.baton.result(runId).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.type).toBe('BudgetExceeded');
  expect(h.fake.count(m)).toBe(25);
}, 300_000);

test('cancelling the run mid-chain cancels the step: no further model or tool call', async () => {
  const m = marker('cancel');
  scriptAgent(m, 60);
  walker.holdFrom = 40;
  const def: EnsembleDefinition = { name: 'react-can-cancel', steps: [agent(m)] };
  const runId = `react-can-cancel-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await until('the 40th tool call', () => (calls.length >= 40 ? true : undefined));
  expect((await chainOf(runId)).length).toBeGreaterThanOrEqual(3);
  await h.baton.cancel(runId);
  const err = await h.baton.result(runId).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  const described = await h.baton.temporal.workflow.getHandle(runId).describe();
  expect(described.status.name).toBe('CANCELLED');
  const made = h.fake.count(m);
  walker.release();
  await new Promise((r) => setTimeout(r, 1_000));
  expect(h.fake.count(m)).toBe(made);
  expect(made).toBe(40);
  expect(calls).toHaveLength(40);
}, 300_000);

test('beside a step that still runs (a waiting approval) the agent does not continue as new; nothing is lost once it is decided', async () => {
  const m = marker('beside');
  scriptAgent(m, 20);
  const def: EnsembleDefinition = {
    name: 'react-can-beside',
    steps: [
      agent(m),
      {
        kind: 'approval',
        name: 'sign',
        dependsOn: [],
        present: 'Sign {{input}}?',
        deadline: '1h',
        onTimeout: 'reject',
      },
    ],
    output: 'walker',
  };
  const runId = `react-can-beside-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await until('the agent to finish', async () =>
    (await h.baton.progress(runId)).steps.find((s) => s.name === 'walker' && s.status === 'completed'),
  );
  const [only] = await chainOf(runId);
  expect(await chainOf(runId)).toHaveLength(1);
  expect(only!.events!.length).toBeGreaterThan(EVENTS);
  await h.baton.approve(runId, { gate: 'sign', by: 'alice' });
  const result = await h.baton.result(runId);
  expect(result.output).toBe('finished after 20 steps');
  expect(result.decisions?.map((d) => [d.gate, d.outcome])).toEqual([['sign', 'approved']]);
  expect(calls).toHaveLength(20);
}, 300_000);

test('an agent with short-term memory (its conversation kept whole, not by reference) continues as new too', async () => {
  const m = marker('memory');
  scriptAgent(m, 40);
  const def: EnsembleDefinition = {
    name: 'react-can-memory',
    steps: [agent(m, { memory: { maxContextTokens: 1_000_000 } })],
  };
  const runId = `react-can-memory-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  const result = await h.baton.result(runId);
  expect(result.output).toBe('finished after 40 steps');
  expect(h.fake.requests.filter((r) => r.allText.includes(m)).map(toolResults)).toEqual(
    Array.from({ length: 41 }, (_, i) => i),
  );
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 40 }, (_, i) => `${runId}/walker#${i + 1}`));
  expect((await chainOf(runId)).length).toBeGreaterThanOrEqual(2);
}, 300_000);
