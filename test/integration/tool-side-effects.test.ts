/**
 * Tool side effects happen once: each logical call has its own idempotency key (the same on every
 * attempt, different for every other call, also across continue-as-new), and a call that may have
 * reached the world is not made again when the tool is not idempotent or the call was approved.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { createTool, ToolNotRun, type ToolContext } from '../../src/activities/tools';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { pendingApprovalsQuery } from '../../src/workflows/api';
import type { ReactResult } from '../../src/workflows/patterns';
import { fetchRunHistory, replayHistory } from '../../src/replay';
import { killHard, startChildWorker } from '../support/child-worker';
import { fakeEnv } from '../support/harness';
import {
  patternsBundle,
  startPatternsHarness,
  uniqueId,
  type PatternsHarness,
} from '../support/patterns-harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 2 };

/** Every attempt of every tool call: the tool, its key, its attempt and its input. */
interface Seen {
  tool: string;
  key: string;
  attempt: number;
  input: unknown;
}
const seen: Seen[] = [];
const see = (tool: string, input: unknown, ctx: ToolContext) =>
  seen.push({ tool, key: ctx.idempotencyKey, attempt: ctx.attempt, input });
const of = (tool: string) => seen.filter((s) => s.tool === tool);
/** Wait longer than the call's timeout, or until the attempt is given up. */
const hang = (ctx: ToolContext, ms = 5_000) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()));
  });

const stamp = createTool({
  name: 'stamp',
  description: 'Stamp a number.',
  input: z.object({ n: z.number() }),
  run: ({ n }, ctx) => (see('stamp', n, ctx), `stamped ${n}`),
});
const flaky = createTool({
  name: 'flaky',
  description: 'Idempotent; its first attempt hangs past the timeout.',
  input: z.object({}),
  run: async (input, ctx) => {
    see('flaky', input, ctx);
    if (ctx.attempt === 1) await hang(ctx);
    return 'flaky done';
  },
});
const charge = createTool({
  name: 'charge',
  description: 'Charge a card (not idempotent).',
  input: z.object({ mode: z.enum(['hang', 'busy-once', 'busy-always', 'declined', 'broken', 'app']) }),
  idempotent: false,
  run: async ({ mode }, ctx) => {
    see('charge', mode, ctx);
    if (mode === 'hang') await hang(ctx);
    if (mode === 'busy-once' && ctx.attempt === 1) throw new ToolNotRun('the bank is busy', { retry: true });
    if (mode === 'busy-always') throw new ToolNotRun('the bank is down', { retry: true });
    if (mode === 'declined') throw new ToolNotRun('card declined');
    if (mode === 'broken') throw new Error('socket hang up');
    if (mode === 'app') throw ApplicationFailure.retryable('gateway busy', 'Busy');
    return 'charged';
  },
});
const wire = createTool({
  name: 'wire',
  description: 'Wire money; needs approval (idempotent otherwise).',
  input: z.object({ amount: z.number() }),
  requiresApproval: true,
  run: async ({ amount }, ctx) => {
    see('wire', amount, ctx);
    if (amount === 0) throw new Error('nothing to wire');
    await hang(ctx);
    return 'wired';
  },
});
const busy = createTool({
  name: 'busy',
  description: 'Idempotent; always says it did not run and may be tried again.',
  input: z.object({}),
  run: (input, ctx) => {
    see('busy', input, ctx);
    throw new ToolNotRun('the index is rebuilding', { retry: true });
  },
});
const shout = createTool({
  name: 'shout',
  description: 'Registered as idempotent; it throws.',
  input: z.object({}),
  run: (input, ctx) => {
    see('shout', input, ctx);
    throw new Error('connection reset');
  },
});

let h: PatternsHarness;
const children: ChildProcess[] = [];
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [stamp, flaky, charge, wire, shout, busy] });
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  seen.length = 0;
});

const marker = () => `task-${Math.random().toString(36).slice(2, 10)}`;
const hasToolResult = (req: { messages: { role: string }[] }) => req.messages.some((m) => m.role === 'tool');
/** A ReAct agent whose model calls `tool` once with `args`, then answers. */
function oneCall(m: string, tool: string, args: Record<string, unknown>) {
  h.fake.on(m, (req) =>
    hasToolResult(req) ? { text: 'Done.' } : { toolCalls: [{ id: 'call_1', name: tool, arguments: args }] },
  );
  return {
    input: `${m}: go`,
    agent: { name: 'agent', profile, tools: [tool], maxIterations: 3, retry, toolTimeout: '1s' },
  };
}

test('keys stay distinct across continue-as-new: a looped agent makes 8 calls with 8 keys, though the model reuses its call ids', async () => {
  const m = marker();
  h.fake.on(m, (req) => {
    if (hasToolResult(req)) return { text: 'next' };
    const round = Number(/round (\d+)/.exec(req.allText)![1]);
    return {
      toolCalls: [
        { id: 'call_1', name: 'stamp', arguments: { n: round } },
        { id: 'call_2', name: 'stamp', arguments: { n: round * 10 } },
      ],
    };
  });
  const def: EnsembleDefinition = {
    name: 'stamps',
    steps: [
      {
        kind: 'loop',
        name: 'rounds',
        dependsOn: [],
        maxIterations: 4,
        until: { ref: 'act', op: 'equals', value: 'stop' },
        body: [
          {
            kind: 'agent',
            name: 'act',
            dependsOn: [],
            profile,
            prompt: `${m} round {{loop.iteration}}`,
            tools: [{ name: 'stamp' }],
            maxIterations: 3,
          },
        ],
      },
    ],
  };
  const runId = uniqueId('keys-can');
  const result = await h.baton.run(def, 'x', { runId, options: { continueAsNewAfterEvents: 20 } });

  // The run did continue as new (more than once: each execution holds about one iteration).
  expect(result.parent?.kind).toBe('continue-as-new');
  const first = (await h.client.workflow.getHandle(runId).fetchHistory()).events?.[0];
  expect(first?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBeTruthy();
  const stamps = of('stamp');
  expect(stamps.map((s) => s.input).sort((a, b) => Number(a) - Number(b))).toEqual([
    1, 2, 3, 4, 10, 20, 30, 40,
  ]);
  const keys = stamps.map((s) => s.key);
  expect(new Set(keys).size).toBe(8);
  expect(keys.sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `${runId}/rounds/act#${n}`).sort());
});

test('fan-out instances share a step name, yet each call has its own key', async () => {
  const m = marker();
  h.fake.on('List:', { text: '["a","b","c"]' });
  h.fake.on(m, (req) =>
    hasToolResult(req)
      ? { text: 'ok' }
      : { toolCalls: [{ id: 'call_1', name: 'stamp', arguments: { n: req.allText.length } }] },
  );
  const def: EnsembleDefinition = {
    name: 'fan',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: 'List: {{input}}' },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        fanOut: { from: 'list' },
        profile,
        prompt: `${m} {{item}}`,
        tools: [{ name: 'stamp' }],
        maxIterations: 3,
      },
    ],
  };
  const runId = uniqueId('keys-fan');
  await h.baton.run(def, 'x', { runId });
  expect(
    of('stamp')
      .map((s) => s.key)
      .sort(),
  ).toEqual([1, 2, 3].map((n) => `${runId}/each#${n}`));
});

test('an idempotent tool that keeps throwing ToolNotRun with retry: 3 attempts with one key, then the model reads why', async () => {
  const m = marker();
  const id = uniqueId('busy');
  const res = await h.run<ReactResult>('reactWorkflow', oneCall(m, 'busy', {}), id);

  expect(of('busy').map((s) => [s.key, s.attempt])).toEqual([1, 2, 3].map((n) => [`${id}/agent#1`, n]));
  expect(res.result.toolCalls[0]).toMatchObject({
    ok: false,
    error: 'ToolFailed',
    content: "Error: tool 'busy' failed: the index is rebuilding",
  });
});

test('an idempotent tool whose first attempt times out is retried with the same key', async () => {
  const m = marker();
  const id = uniqueId('flaky');
  const res = await h.run<ReactResult>('reactWorkflow', oneCall(m, 'flaky', {}), id);

  expect(res.result.toolCalls).toEqual([{ name: 'flaky', arguments: {}, ok: true, content: 'flaky done' }]);
  expect(of('flaky').map((s) => [s.key, s.attempt])).toEqual([
    [`${id}/agent#1`, 1],
    [`${id}/agent#1`, 2],
  ]);
});

test('a non-idempotent tool whose attempt timed out after acting is not called again: ToolOutcomeUnknown names tool, step and key', async () => {
  const m = marker();
  const id = uniqueId('charge-hang');
  const failure = await h.runFailing('reactWorkflow', oneCall(m, 'charge', { mode: 'hang' }), id);

  expect(of('charge')).toEqual([{ tool: 'charge', key: `${id}/agent#1`, attempt: 1, input: 'hang' }]);
  expect(failure.progress?.error).toMatchObject({ step: 'agent', type: 'ToolOutcomeUnknown' });
  expect(failure.message).toContain(`tool 'charge' in step 'agent' may or may not have acted`);
  expect(failure.message).toContain(`Idempotency key: ${id}/agent#1`);
  expect(failure.message).toContain('its attempt ended without an answer (');
  expect(failure.message).toContain('It is not called again: it is not idempotent.');
  // The model was not asked again: the step stopped at the call.
  expect(h.fake.count(m)).toBe(1);
  // One activity attempt in history, and the run is closed: nothing can try it again.
  const events = (await h.client.workflow.getHandle(id).fetchHistory()).events ?? [];
  const started = events.filter((e) => e.activityTaskStartedEventAttributes);
  expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1, 1]); // callModel, callTool
});

/** Start a ReAct run whose one call waits at a tool gate, and approve it. */
async function approvedCall(m: string, tool: string, args: Record<string, unknown>, id: string) {
  const handle = await h.start('reactWorkflow', oneCall(m, tool, args), id);
  let gate: string | undefined;
  for (let i = 0; i < 100 && !gate; i++) {
    gate = (await handle.query(pendingApprovalsQuery))[0]?.gate;
    if (!gate) await new Promise((r) => setTimeout(r, 100));
  }
  await h.baton.approve(id, { by: 'alice', gate: gate! });
  return handle;
}

test('a run cancelled during a non-idempotent call ends cancelled, not with ToolOutcomeUnknown', async () => {
  const m = marker();
  const id = uniqueId('charge-cancel');
  const input = oneCall(m, 'charge', { mode: 'hang' });
  const handle = await h.start(
    'reactWorkflow',
    { ...input, agent: { ...input.agent, toolTimeout: '1m' } },
    id,
  );
  for (let i = 0; i < 100 && of('charge').length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  await handle.cancel();
  await expect(handle.result()).rejects.toThrow();
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  expect(of('charge')).toHaveLength(1);
});

test('an approved call runs at most one attempt that may have reached the world', async () => {
  const m = marker();
  const id = uniqueId('wire');
  const handle = await approvedCall(m, 'wire', { amount: 70 }, id);
  await expect(handle.result()).rejects.toThrow();

  expect(of('wire').map((s) => [s.key, s.attempt])).toEqual([[`${id}/agent#1`, 1]]);
  const p = await h.baton.progress(id);
  expect(p.error).toMatchObject({ step: 'agent', type: 'ToolOutcomeUnknown' });
  expect(p.error!.message).toContain(`Idempotency key: ${id}/agent#1`);
  expect(p.error!.message).toContain('It is not called again: its call was approved for one run.');
});

test('an approved call of an idempotent tool that throws: the model reads the error, the call is not made again', async () => {
  const m = marker();
  const id = uniqueId('wire-error');
  const handle = await approvedCall(m, 'wire', { amount: 0 }, id);
  const res = (await handle.result()) as { result: ReactResult };

  expect(of('wire')).toHaveLength(1);
  expect(res.result.toolCalls[0]).toMatchObject({
    ok: false,
    content: "Error: tool 'wire' failed: nothing to wire",
  });
});

describe('clean errors of a non-idempotent tool (ToolNotRun)', () => {
  test('with retry: tried again with the same key, and the call succeeds', async () => {
    const m = marker();
    const id = uniqueId('busy');
    const res = await h.run<ReactResult>('reactWorkflow', oneCall(m, 'charge', { mode: 'busy-once' }), id);

    expect(of('charge').map((s) => [s.key, s.attempt])).toEqual([
      [`${id}/agent#1`, 1],
      [`${id}/agent#1`, 2],
    ]);
    expect(res.result.toolCalls[0]).toMatchObject({ name: 'charge', ok: true, content: 'charged' });
    // The workflow's own retry (a patch marker and a timer in history) replays on the same code.
    const history = await fetchRunHistory(h.baton.temporal, id);
    const markers = (history.events ?? []).map((e) => e.markerRecordedEventAttributes?.markerName);
    expect(markers).toContain('core_patch');
    expect((history.events ?? []).some((e) => e.timerStartedEventAttributes)).toBe(true);
    expect(await replayHistory(history, id, { workflowBundle: await patternsBundle() })).toMatchObject({
      ok: true,
    });
  });

  test('with retry, every time: 3 attempts with one key, then the model reads why', async () => {
    const m = marker();
    const id = uniqueId('busy-always');
    const res = await h.run<ReactResult>('reactWorkflow', oneCall(m, 'charge', { mode: 'busy-always' }), id);

    expect(of('charge').map((s) => [s.key, s.attempt])).toEqual([1, 2, 3].map((n) => [`${id}/agent#1`, n]));
    expect(res.result.toolCalls[0]).toMatchObject({
      ok: false,
      content: "Error: tool 'charge' failed: the bank is down",
    });
  });

  test('without retry: not tried again; the model reads why and the step goes on', async () => {
    const m = marker();
    const res = await h.run<ReactResult>('reactWorkflow', oneCall(m, 'charge', { mode: 'declined' }));

    expect(of('charge')).toHaveLength(1);
    expect(res.output).toBe('Done.');
    expect(res.result.toolCalls[0]).toMatchObject({
      ok: false,
      error: 'ToolFailed',
      content: "Error: tool 'charge' failed: card declined",
    });
    const second = h.fake.requests.filter((r) => r.allText.includes(m))[1]!;
    expect(second.messages.find((x) => x.role === 'tool')!.content).toBe(
      "Error: tool 'charge' failed: card declined",
    );
  });

  test('an ApplicationFailure is not a clean error either: ToolOutcomeUnknown, not called again', async () => {
    const m = marker();
    const failure = await h.runFailing('reactWorkflow', oneCall(m, 'charge', { mode: 'app' }));

    expect(of('charge')).toHaveLength(1);
    expect(failure.progress?.error?.type).toBe('ToolOutcomeUnknown');
    expect(failure.message).toContain(
      'threw an error that does not say the call did not happen (gateway busy)',
    );
  });

  test('any other error does not say the call did not happen: ToolOutcomeUnknown, not called again', async () => {
    const m = marker();
    const failure = await h.runFailing('reactWorkflow', oneCall(m, 'charge', { mode: 'broken' }));

    expect(of('charge')).toHaveLength(1);
    expect(failure.progress?.error?.type).toBe('ToolOutcomeUnknown');
    expect(failure.message).toContain(
      'threw an error that does not say the call did not happen (socket hang up)',
    );
  });
});

test("an ensemble's tool list can declare a tool not idempotent: its error is then an unknown outcome", async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req) ? { text: 'ok' } : { toolCalls: [{ name: 'shout', arguments: {} }] },
  );
  const step = (idempotent?: boolean) => ({
    kind: 'agent' as const,
    name: 'act',
    dependsOn: [],
    profile,
    prompt: `${m} {{input}}`,
    tools: [{ name: 'shout', ...(idempotent !== undefined && { idempotent }) }],
    maxIterations: 3,
  });
  // Declared in the definition (YAML: `tools: [{ name: shout, idempotent: false }]`).
  const runId = uniqueId('yaml-once');
  await expect(h.baton.run({ name: 'once', steps: [step(false)] }, 'x', { runId })).rejects.toThrow(
    /ToolOutcomeUnknown|may or may not have acted/,
  );
  expect((await h.baton.progress(runId)).error).toMatchObject({ step: 'act', type: 'ToolOutcomeUnknown' });
  expect(of('shout')).toHaveLength(1);
  // Without it, the error goes back to the model, as for any idempotent tool.
  const ok = await h.baton.run({ name: 'default', steps: [step()] }, 'y');
  expect(ok.output).toBe('ok');
});

test('resolving ToolOutcomeUnknown: a retry is a new logical run with new keys; `completed` marks the step done instead', async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req) ? { text: 'ok' } : { toolCalls: [{ name: 'shout', arguments: {} }] },
  );
  h.fake.on('Report:', (req) => ({ text: `report of ${req.lastUserText}` }));
  const def: EnsembleDefinition = {
    name: 'resolve',
    steps: [
      {
        kind: 'agent',
        name: 'act',
        dependsOn: [],
        profile,
        prompt: `${m} {{input}}`,
        tools: [{ name: 'shout', idempotent: false }],
        maxIterations: 3,
      },
      { kind: 'agent', name: 'report', dependsOn: ['act'], profile, prompt: 'Report: {{act}}' },
    ],
  };
  const runId = uniqueId('resolve');
  await expect(h.baton.run(def, 'x', { runId })).rejects.toThrow(/may or may not have acted/);

  // Nothing happened (say): retry. The step runs again, its call with a key of the new run.
  const again = await h.baton.retry(runId);
  await expect(h.baton.result(again.runId)).rejects.toThrow(/may or may not have acted/);
  expect(of('shout').map((s) => s.key)).toEqual([`${runId}/act#1`, `${again.runId}/act#1`]);

  // It did happen: the operator marks the step done with what it did; the tool is not called.
  const resolved = await h.baton.retry(again.runId, { completed: { act: 'shouted once (checked)' } });
  const result = await h.baton.result(resolved.runId);
  expect(result.output).toBe('report of Report: shouted once (checked)');
  expect(of('shout')).toHaveLength(2);
  expect(result.steps.find((s) => s.name === 'act')).toMatchObject({ status: 'completed', reused: true });
  await expect(h.baton.retry(again.runId, { completed: { nope: 'x' } })).rejects.toThrow(
    /cannot mark step 'nope' completed: run .* has no top-level step of that name; its steps are: act, report/,
  );
});

test('a worker SIGKILLed during a non-idempotent call: the new worker does not call it again', async () => {
  const recordFile = join(mkdtempSync(join(tmpdir(), 'baton-tools-')), 'charges.log');
  const taskQueue = `tools-crash-${process.pid}-${Date.now()}`;
  const env = { ...fakeEnv(h.fake), BATON_TASK_QUEUE: taskQueue, BATON_TEST_RECORD_FILE: recordFile };
  const start = async () => {
    const c = await startChildWorker(env, 'patterns-worker-process.ts');
    children.push(c);
    return c;
  };
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req) ? { text: 'Done.' } : { toolCalls: [{ name: 'charge', arguments: { cents: 500 } }] },
  );
  const first = await start();
  const id = uniqueId('tools-crash');
  const handle = await h.client.workflow.start('reactWorkflow', {
    taskQueue,
    workflowId: id,
    args: [
      {
        input: `${m}: charge it`,
        options: { heartbeatTimeout: '2s' },
        agent: { name: 'agent', profile, tools: ['charge'], maxIterations: 3, toolTimeout: '1m' },
      },
    ],
  });
  for (let i = 0; i < 300 && !(existsSync(recordFile) && readFileSync(recordFile, 'utf8')); i++)
    await new Promise((r) => setTimeout(r, 100));
  await killHard(first);
  await start();

  await expect(handle.result()).rejects.toThrow();
  expect(readFileSync(recordFile, 'utf8').trim().split('\n')).toEqual([`${id}/agent#1 1`]);
  const events = (await handle.fetchHistory()).events ?? [];
  const failed = events.find((e) => e.workflowExecutionFailedEventAttributes)!;
  const details = failed.workflowExecutionFailedEventAttributes!.failure!;
  expect(details.applicationFailureInfo?.type).toBe('StepFailed');
  expect(details.message).toContain(`tool 'charge' in step 'agent' may or may not have acted`);
  expect(details.message).toContain(`Idempotency key: ${id}/agent#1`);
  expect(h.fake.count(m)).toBe(1);
});
