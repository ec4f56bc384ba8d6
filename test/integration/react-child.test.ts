/**
 * A long ReAct step that cannot continue its run as new (here: beside a step that still runs, and
 * in a loop body) hands its remaining turns to a child workflow (patch 'baton-react-child') once
 * the run's history holds `continueAsNewAfterEvents` events; the child continues as new itself.
 * The run's history stays bounded; each tool call is made once with the key the run would give it;
 * the budget is the run's; cancelling the run cancels the child; a step with a tool that needs
 * approval stays in the run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { WorkflowHandle } from '@temporalio/client';
import { createTool } from '../../src/activities/tools';
import { RunFailedError } from '../../src/client';
import { defaultPayloadDir } from '../../src/payloads/store';
import { replayHistory } from '../../src/replay';
import type { EnsembleDefinition, StepDefinition } from '../../src/types';
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
import { collect, shownText } from '../support/streams';

const walker = createWalker();
const { calls } = walker;
const scriptAgent = (m: string, turns: number) => scriptAgent_(h.fake, m, turns);
const chainOf = (workflowId: string) => chainOf_(h.baton.temporal, workflowId);

const sign = createTool({
  name: 'sign',
  description: 'Sign the result (needs approval).',
  input: z.object({}),
  requiresApproval: true,
  run: () => 'signed',
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ tools: [walker.tool, sign] });
});
afterAll(async () => {
  walker.release();
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  walker.reset();
});

/** A step beside the agent that runs until the test decides it. */
const waiting: StepDefinition = {
  kind: 'approval',
  name: 'sign-off',
  dependsOn: [],
  present: 'Sign {{input}}?',
  deadline: '1h',
  onTimeout: 'reject',
};

/** The child workflows a run's (latest) history started, by id. */
async function childStarts(runId: string): Promise<string[]> {
  const history = await h.baton.temporal.workflow.getHandle(runId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((w): w is string => typeof w === 'string');
}

const walkerDone = (runId: string) =>
  until('the agent to finish', async () =>
    (await h.baton.progress(runId)).steps.find((s) => s.name === 'walker' && s.status === 'completed'),
  );

test('beside a step that still runs, a 60-turn ReAct step goes on in a child: the run stays bounded, each tool call once with the run’s keys, one step with all its calls', async () => {
  const m = marker('walk');
  scriptAgent(m, 60);
  const def: EnsembleDefinition = { name: 'react-child', steps: [agent(m), waiting], output: 'walker' };
  const runId = `react-child-${Date.now()}`;
  const events = collect(h.baton.events(runId));
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await walkerDone(runId);
  await h.baton.approve(runId, { gate: 'sign-off', by: 'alice' });
  const result = await h.baton.result(runId);

  expect(result.output).toBe('finished after 60 steps');
  // The model read every earlier result each time: the conversation went to the child whole.
  expect(h.fake.requests.filter((r) => r.allText.includes(m)).map(toolResults)).toEqual(
    Array.from({ length: 61 }, (_, i) => i),
  );
  // Each call once, in order, with the key the run would give it.
  expect(calls.map((c) => c.n)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 60 }, (_, i) => `${runId}/walker#${i + 1}`));

  // The run did not continue as new (another step ran), and its history stayed bounded: the
  // turns after the limit went to children, each starting the next once its own history was long.
  const runChain = await chainOf(runId);
  expect(runChain).toHaveLength(1);
  const children = await childStarts(runId);
  expect(children.length).toBeGreaterThanOrEqual(3);
  expect(children).toEqual(children.map((_, i) => `${runId}/walker/react${i > 0 ? `.${i + 1}` : ''}`));
  // The turns before the limit, then a few events per child.
  expect(runChain[0]!.events!.length).toBeLessThan(EVENTS + 20 + 10 * children.length);
  const childHistories = await Promise.all(children.map(async (c) => (await chainOf(c))[0]!));
  for (const history of childHistories) expect(history.events!.length).toBeLessThan(EVENTS + 40);
  console.log(
    `react-child: 60 turns -> run ${runChain[0]!.events!.length} events, children ${childHistories.map((c) => c.events!.length).join(', ')}`,
  );

  // One step in progress and in the result: all its calls, usage and cost, counted once.
  const walkerSteps = result.steps.filter((s) => s.name.startsWith('walker'));
  expect(walkerSteps).toHaveLength(1);
  expect(walkerSteps[0]).toMatchObject({ status: 'completed', calls: 61, toolCalls: 60 });
  expect(walkerSteps[0]!.usage).toMatchObject({ inputTokens: 61 * 7, outputTokens: 61 * 10 });
  expect(walkerSteps[0]!.costUsd).toBe(610);
  expect(result.costUsd).toBe(610);
  const cli = await runBaton(['status', runId, '-o', 'json'], {
    cwd: mkdtempSync(join(tmpdir(), 'baton-react-child-')),
    env: { BATON_PAYLOAD_STORE: process.env.BATON_PAYLOAD_STORE ?? defaultPayloadDir() },
  });
  expect(cli.code).toBe(0);
  const shown = JSON.parse(cli.stdout) as { steps: { name: string; calls: number; toolCalls?: number }[] };
  expect(shown.steps.filter((s) => s.name.startsWith('walker'))).toEqual([
    expect.objectContaining({ name: 'walker', calls: 61, toolCalls: 60, status: 'completed' }),
  ]);

  // The child's calls streamed under the run's id and the step's name.
  const seen = await events;
  expect(shownText(seen).walker).toBe('finished after 60 steps');
  expect(new Set(seen.map((e) => e.step).filter((s) => s !== undefined))).toEqual(
    new Set(['walker', 'sign-off']),
  );

  // The run and every execution of the child replay on this code.
  const bundle = await workflowBundle();
  expect(await replayHistory(runChain[0]!, runId, { workflowBundle: bundle })).toMatchObject({ ok: true });
  for (const [i, history] of childHistories.entries())
    expect(await replayHistory(history, children[i], { workflowBundle: bundle })).toMatchObject({ ok: true });
}, 300_000);

test('max_iterations counts model calls across the handoff', async () => {
  const m = marker('endless');
  scriptAgent(m, Infinity);
  const def: EnsembleDefinition = {
    name: 'react-child-max',
    steps: [agent(m, { maxIterations: 30 }), waiting],
  };
  const runId = `react-child-max-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  const err = (await h.baton.result(runId).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain('made 30 model calls (max_iterations)');
  expect(h.fake.count(m)).toBe(30);
  expect(calls).toHaveLength(30);
  expect((await childStarts(runId))[0]).toBe(`${runId}/walker/react`);
}, 300_000);

test('a budget for exactly 25 calls stops at the run’s budget gate after 25 calls, across children', async () => {
  const m = marker('budget');
  scriptAgent(m, 60);
  const def: EnsembleDefinition = {
    name: 'react-child-budget',
    budget: { maxCostUsd: 250 },
    steps: [agent(m), waiting],
  };
  const runId = `react-child-budget-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  const gate = await until('the budget gate', async () =>
    (await h.baton.pendingApprovals(runId).catch(() => [])).find((g) => g.kind === 'budget'),
  );
  expect(gate.step).toBe('walker');
  expect(gate.budget?.spent.costUsd).toBe(250);
  expect(h.fake.count(m)).toBe(25);
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 25 }, (_, i) => `${runId}/walker#${i + 1}`));
  // Part of the calls ran in children, each on an allowance from the run's ledger.
  const children = await childStarts(runId);
  expect(children.length).toBeGreaterThanOrEqual(2);
  expect(children[0]).toBe(`${runId}/walker/react`);
  const progress = await h.baton.progress(runId);
  expect(progress.budget).toMatchObject({
    spent: { costUsd: 250 },
    reserved: { costUsd: 0 },
    limit: { maxCostUsd: 250 },
  });
  expect(progress.steps.find((s) => s.name === 'walker')).toMatchObject({ calls: 25, toolCalls: 25 });

  // Raised by 50: five more calls, then the gate again.
  await h.baton.approve(runId, { gate: 'budget', by: 'bob', budget: { maxCostUsd: 300 } });
  const again = await until('the second budget gate', async () =>
    (await h.baton.pendingApprovals(runId).catch(() => [])).find(
      (g) => g.kind === 'budget' && g.budget?.spent.costUsd === 300,
    ),
  );
  expect(h.fake.count(m)).toBe(30);
  expect(new Set(calls.map((c) => c.key)).size).toBe(30);
  await h.baton.reject(runId, { gate: again.gate, by: 'bob', comment: 'enough' });
  const err = (await h.baton.result(runId).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.type).toBe('BudgetExceeded');
  expect(h.fake.count(m)).toBe(30);
}, 300_000);

/**
 * A 60-turn walker beside the waiting gate, started and held at its 40th tool call (by then in a
 * child): the run, its marker, the children it started and the latest child's handle.
 */
async function startHeldInChild(tag: string) {
  const m = marker(tag);
  scriptAgent(m, 60);
  walker.holdFrom = 40;
  const def: EnsembleDefinition = { name: `react-child-${tag}`, steps: [agent(m), waiting] };
  const runId = `react-child-${tag}-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await until('the 40th tool call', () => (calls.length >= 40 ? true : undefined));
  const started = await childStarts(runId);
  return { m, runId, started, child: h.baton.temporal.workflow.getHandle(started[started.length - 1]!) };
}

/** The child closes cancelled, and once its held call is let go, no further model or tool call is made. */
async function expectChildStoppedAt40(m: string, child: WorkflowHandle) {
  await until('the child to close', async () =>
    (await child.describe()).status.name === 'RUNNING' ? undefined : true,
  );
  expect((await child.describe()).status.name).toBe('CANCELLED');
  const made = h.fake.count(m);
  walker.release();
  await new Promise((r) => setTimeout(r, 1_000));
  expect(h.fake.count(m)).toBe(made);
  expect(made).toBe(40);
  expect(calls).toHaveLength(40);
}

test('cancelling the run cancels the child: no further model or tool call', async () => {
  const { m, runId, started, child } = await startHeldInChild('cancel');
  expect(started[0]).toBe(`${runId}/walker/react`);
  expect((await child.describe()).status.name).toBe('RUNNING');
  await h.baton.cancel(runId);
  const err = await h.baton.result(runId).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect((await h.baton.temporal.workflow.getHandle(runId).describe()).status.name).toBe('CANCELLED');
  await expectChildStoppedAt40(m, child);
}, 300_000);

test('a step in a loop body hands off too, and the loop goes on with the tool-call counter where the child left it', async () => {
  const m = marker('loop');
  scriptAgent(m, 30);
  const def: EnsembleDefinition = {
    name: 'react-child-loop',
    steps: [
      {
        kind: 'loop',
        name: 'rounds',
        dependsOn: [],
        maxIterations: 2,
        until: { ref: 'walker', op: 'contains', value: 'never' },
        body: [agent(m)],
      } as StepDefinition,
      waiting,
    ],
    output: 'rounds',
  };
  const runId = `react-child-loop-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await until('the loop to finish', async () =>
    (await h.baton.progress(runId)).steps.find((s) => s.name === 'rounds' && s.status === 'completed'),
  );
  await h.baton.approve(runId, { gate: 'sign-off', by: 'alice' });
  const result = await h.baton.result(runId);
  expect(result.output).toBe('finished after 30 steps');
  // Two iterations of 30 calls: one counter for the step, each key once.
  expect(calls.map((c) => c.key)).toEqual(
    Array.from({ length: 60 }, (_, i) => `${runId}/rounds/walker#${i + 1}`),
  );
  const children = await childStarts(runId);
  expect(children[0]).toBe(`${runId}/rounds/walker/react`);
  expect(children.length).toBeGreaterThanOrEqual(2);
  // The turns of the first iteration before the limit, then one turn and a few events per child.
  expect((await chainOf(runId))[0]!.events!.length).toBeLessThan(EVENTS + 20 + 20 * children.length);
}, 300_000);

test('a step with a tool that needs approval stays in the run (its gates are the run’s)', async () => {
  const m = marker('gated');
  scriptAgent(m, 20);
  const def: EnsembleDefinition = {
    name: 'react-child-gated',
    steps: [agent(m, { tools: [{ name: 'step' }, { name: 'sign' }] }), waiting],
    output: 'walker',
  };
  const runId = `react-child-gated-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await walkerDone(runId);
  expect(await childStarts(runId)).toEqual([]);
  const [only] = await chainOf(runId);
  expect(only!.events!.length).toBeGreaterThan(EVENTS + 40);
  await h.baton.approve(runId, { gate: 'sign-off', by: 'alice' });
  expect((await h.baton.result(runId)).output).toBe('finished after 20 steps');
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 20 }, (_, i) => `${runId}/walker#${i + 1}`));
}, 300_000);

test('a fan-out instance stays in the run (the instances share the step’s tool-call counter)', async () => {
  const m = marker('fan');
  const list = marker('list');
  scriptAgent(m, 20);
  h.fake.on(list, { text: JSON.stringify(['only']), usage: USAGE });
  const def: EnsembleDefinition = {
    name: 'react-child-fan-out',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `${list}: list` },
      agent(m, { dependsOn: ['list'], prompt: `${m}: walk {{item}}`, fanOut: { from: 'list' } }),
      waiting,
    ],
    output: 'walker',
  };
  const runId = `react-child-fan-out-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await walkerDone(runId);
  expect(await childStarts(runId)).toEqual([]);
  expect((await chainOf(runId))[0]!.events!.length).toBeGreaterThan(EVENTS + 40);
  await h.baton.approve(runId, { gate: 'sign-off', by: 'alice' });
  expect(JSON.parse((await h.baton.result(runId)).output)).toEqual(['finished after 20 steps']);
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 20 }, (_, i) => `${runId}/walker#${i + 1}`));
}, 300_000);

test('when another step fails while the child runs, the child is cancelled and the run fails without further calls', async () => {
  const { m, runId, child } = await startHeldInChild('halt');
  await h.baton.reject(runId, { gate: 'sign-off', by: 'alice', comment: 'no' });
  const err = (await h.baton.result(runId).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain('sign-off');
  await expectChildStoppedAt40(m, child);
  const walkerStep = (await h.baton.progress(runId)).steps.find((s) => s.name === 'walker');
  // As in the run: the step stopped because another failed.
  expect(walkerStep).toMatchObject({
    status: 'skipped',
    reason: expect.stringContaining('stopped before it finished'),
  });
}, 300_000);

test('an agent with short-term memory (its conversation kept whole, not by reference) hands off too', async () => {
  const m = marker('memory');
  scriptAgent(m, 40);
  const def: EnsembleDefinition = {
    name: 'react-child-memory',
    steps: [agent(m, { memory: { maxContextTokens: 1_000_000 } }), waiting],
    output: 'walker',
  };
  const runId = `react-child-memory-${Date.now()}`;
  await h.baton.start(def, 'go', { runId, options: { continueAsNewAfterEvents: EVENTS } });
  await walkerDone(runId);
  await h.baton.approve(runId, { gate: 'sign-off', by: 'alice' });
  expect((await h.baton.result(runId)).output).toBe('finished after 40 steps');
  expect(h.fake.requests.filter((r) => r.allText.includes(m)).map(toolResults)).toEqual(
    Array.from({ length: 41 }, (_, i) => i),
  );
  expect(calls.map((c) => c.key)).toEqual(Array.from({ length: 40 }, (_, i) => `${runId}/walker#${i + 1}`));
  expect((await childStarts(runId))[0]).toBe(`${runId}/walker/react`);
}, 300_000);
