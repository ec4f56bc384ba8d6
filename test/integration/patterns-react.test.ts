import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { decideUpdate, pendingApprovalsQuery } from '../../src/workflows/api';
import type { ReactResult } from '../../src/workflows/patterns';
import { startPatternsHarness, uniqueId, type PatternsHarness } from '../support/patterns-harness';

const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const anthropic: ModelProfile = { name: 'an', provider: 'anthropic', model: 'claude-test' };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 2 };

/** What each tool was called with, in order. */
const ran: Record<string, unknown[]> = {};
const note = (name: string, value: unknown) => (ran[name] ??= []).push(value);
const FACTS: Record<string, string> = { capital: 'Paris', river: 'Seine' };

const lookup = createTool({
  name: 'lookup',
  description: 'Look a fact up by key.',
  input: z.object({ key: z.string() }),
  run: ({ key }) => {
    note('lookup', key);
    return FACTS[key] ?? `no fact '${key}'`;
  },
});
const explode = createTool({
  name: 'explode',
  description: 'Read a sensor.',
  input: z.object({}),
  run: () => {
    note('explode', true);
    throw new Error('sensor offline');
  },
});
const secret = createTool({
  name: 'secret',
  description: 'Read the secret.',
  input: z.object({}),
  run: () => {
    note('secret', true);
    return 'TOP SECRET';
  },
});
const transfer = createTool({
  name: 'transfer',
  description: 'Send money.',
  input: z.object({ amount: z.number() }),
  requiresApproval: true,
  run: ({ amount }) => {
    note('transfer', amount);
    return `sent ${amount}`;
  },
});

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [lookup, explode, secret, transfer] });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  for (const k of Object.keys(ran)) delete ran[k];
});

const marker = () => `task-${Math.random().toString(36).slice(2, 10)}`;
const hasToolResult = (req: { messages: { role: string }[] }) => req.messages.some((m) => m.role === 'tool');
const agentWith = (profile: ModelProfile, tools: string[], maxIterations = 4) => ({
  name: 'agent',
  profile,
  tools,
  maxIterations,
  retry,
});

test('the model calls a tool, the tool runs once as its own activity, and its result goes back to the model', async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req)
      ? { text: 'The capital is Paris.' }
      : { toolCalls: [{ name: 'lookup', arguments: { key: 'capital' } }] },
  );
  const handle = await h.start('reactWorkflow', {
    input: `${m}: capital of France?`,
    agent: agentWith(openai, ['lookup', 'explode']),
  });
  const res = (await handle.result()) as { output: string; steps: any[]; result: ReactResult; roles: any };

  expect(res.output).toBe('The capital is Paris.');
  expect(res.result.toolCalls).toEqual([
    { name: 'lookup', arguments: { key: 'capital' }, ok: true, content: 'Paris' },
  ]);
  expect(res.result.iterations).toBe(2);
  expect(ran.lookup).toEqual(['capital']);
  const reqs = h.fake.requests.filter((r) => r.allText.includes(m));
  expect(reqs).toHaveLength(2);
  // Only the allowlist is offered, and the second call carries the observation.
  expect(reqs[0]!.tools).toEqual(['lookup', 'explode']);
  expect(reqs[1]!.messages.filter((x) => x.role === 'tool').map((x) => x.content)).toEqual(['Paris']);
  const step = res.steps.find((s) => s.name === 'agent');
  expect(step).toMatchObject({ status: 'completed', calls: 2, toolCalls: 1 });
  expect(res.roles.agent.calls).toBe(2);

  // In history: two model-call activities and one tool-call activity.
  const history = await handle.fetchHistory();
  const types = (history.events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : [],
  );
  expect(types.filter((t) => t === 'callModel')).toHaveLength(2);
  expect(types.filter((t) => t === 'callTool')).toHaveLength(1);
});

test('a tool error and arguments that fail the schema go back to the model as observations (Anthropic wire format)', async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req)
      ? { text: 'The sensor is offline; I could not look it up.' }
      : {
          toolCalls: [
            { name: 'explode', arguments: {} },
            { name: 'lookup', arguments: { key: 42 } },
          ],
        },
  );
  const res = await h.run<ReactResult>('reactWorkflow', {
    input: `${m}: read the sensor`,
    agent: agentWith(anthropic, ['lookup', 'explode']),
  });

  expect(res.output).toBe('The sensor is offline; I could not look it up.');
  expect(res.result.toolCalls.map((c) => [c.name, c.ok, c.error])).toEqual([
    ['explode', false, 'ToolFailed'],
    ['lookup', false, 'InvalidArguments'],
  ]);
  const second = h.fake.requests.filter((r) => r.allText.includes(m))[1]!;
  const observations = second.messages.filter((x) => x.role === 'tool').map((x) => x.content);
  expect(observations[0]).toBe("Error: tool 'explode' failed: sensor offline");
  expect(observations[1]).toMatch(/invalid arguments for tool 'lookup'[\s\S]*expected string/);
  // The tool that threw ran once (its error is an answer, not a reason to retry); the invalid call never ran.
  expect(ran.explode).toEqual([true]);
  expect(ran.lookup).toBeUndefined();
});

test('a tool outside the agent’s allowlist is refused as an observation and never runs, though the worker has it', async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req) ? { text: 'I may not read it.' } : { toolCalls: [{ name: 'secret', arguments: {} }] },
  );
  const res = await h.run<ReactResult>('reactWorkflow', {
    input: `${m}: tell me the secret`,
    agent: agentWith(openai, ['lookup']),
  });

  expect(res.output).toBe('I may not read it.');
  expect(res.result.toolCalls).toEqual([
    {
      name: 'secret',
      arguments: {},
      ok: false,
      error: 'NotAllowed',
      content: "Error: tool 'secret' is not allowed for this agent (allowed: lookup).",
    },
  ]);
  expect(ran.secret).toBeUndefined();
  expect(h.fake.requests.find((r) => r.allText.includes(m))!.tools).toEqual(['lookup']);
});

test('max iterations: an agent that keeps calling tools fails after exactly max model calls, naming the limit', async () => {
  const m = marker();
  h.fake.on(m, { toolCalls: [{ name: 'lookup', arguments: { key: 'river' } }] });
  const failure = await h.runFailing('reactWorkflow', {
    input: `${m}: loop forever`,
    agent: agentWith(openai, ['lookup'], 3),
  });

  expect(failure.type).toBe('StepFailed');
  expect(failure.message).toMatch(
    /step 'agent' failed: agent 'agent' made 3 model calls \(max_iterations\) without a final answer/,
  );
  expect(failure.progress?.error).toMatchObject({ step: 'agent', type: 'MaxIterationsExceeded' });
  expect(h.fake.count(m)).toBe(3);
  expect(ran.lookup).toEqual(['river', 'river', 'river']);
});

test("max iterations with onMaxIterations 'answer': one more call without tools gives the answer", async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    req.tools.length
      ? { toolCalls: [{ name: 'lookup', arguments: { key: 'river' } }] }
      : { text: 'The Seine.' },
  );
  const res = await h.run<ReactResult>('reactWorkflow', {
    input: `${m}: which river?`,
    agent: agentWith(openai, ['lookup'], 2),
    onMaxIterations: 'answer',
  });
  expect(res.output).toBe('The Seine.');
  expect(res.result).toMatchObject({ iterations: 3, stoppedBy: 'max-iterations' });
  expect(h.fake.count(m)).toBe(3);
});

test('a tool the worker does not register fails the run at once, naming the registered tools', async () => {
  const m = marker();
  const failure = await h.runFailing('reactWorkflow', {
    input: `${m}: go`,
    agent: agentWith(openai, ['lookup', 'teleport']),
  });
  expect(failure.progress?.error?.type).toBe('UnknownTool');
  expect(failure.message).toContain(
    "unknown tool 'teleport' (this worker registers: explode, lookup, secret, transfer)",
  );
  expect(h.fake.count(m)).toBe(0);
});

test('an ensemble agent step with tools runs as a ReAct agent in the interpreter (batonRun)', async () => {
  const m = marker();
  h.fake.on(m, (req) =>
    hasToolResult(req)
      ? { text: 'RIVER-SEINE' }
      : { toolCalls: [{ name: 'lookup', arguments: { key: 'river' } }] },
  );
  h.fake.on('Shout:', (req) => ({ text: req.lastUserText.toUpperCase() }));
  const def: EnsembleDefinition = {
    name: 'tools-in-ensemble',
    steps: [
      {
        kind: 'agent',
        name: 'research',
        dependsOn: [],
        profile: openai,
        prompt: `${m} {{input}}`,
        tools: [{ name: 'lookup' }],
        maxIterations: 3,
      },
      {
        kind: 'agent',
        name: 'shout',
        dependsOn: ['research'],
        profile: openai,
        prompt: 'Shout: {{research}}',
      },
    ],
  };
  const res = await h.baton.run(def, 'which river?', { runId: uniqueId('ensemble-tools') });
  expect(res.output).toBe('SHOUT: RIVER-SEINE');
  expect(res.steps[0]).toMatchObject({
    name: 'research',
    status: 'completed',
    calls: 2,
    toolCalls: 1,
    output: 'RIVER-SEINE',
  });
  expect(ran.lookup).toEqual(['river']);
});

describe('tools that require approval', () => {
  async function waitForGate(handle: Awaited<ReturnType<PatternsHarness['start']>>) {
    for (let i = 0; i < 100; i++) {
      const pending = await handle.query(pendingApprovalsQuery);
      if (pending.length) return pending[0]!;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no gate opened');
  }

  test('the call waits for a person; approved with edited arguments, it runs with those', async () => {
    const m = marker();
    h.fake.on(m, (req) =>
      hasToolResult(req)
        ? { text: 'Done.' }
        : { toolCalls: [{ name: 'transfer', arguments: { amount: 500 } }] },
    );
    const handle = await h.start('reactWorkflow', {
      input: `${m}: pay`,
      agent: agentWith(openai, ['transfer']),
    });
    const gate = await waitForGate(handle);
    expect(gate).toMatchObject({
      step: 'agent',
      kind: 'tool',
      tool: { name: 'transfer', arguments: { amount: 500 } },
    });
    expect(ran.transfer).toBeUndefined();

    await handle.executeUpdate(decideUpdate, {
      args: [{ outcome: 'approved', by: 'alice', editedArguments: { amount: 50 } }],
    });
    const res = (await handle.result()) as { result: ReactResult; decisions?: unknown[] };
    expect(ran.transfer).toEqual([50]);
    expect(res.result.toolCalls[0]).toMatchObject({
      name: 'transfer',
      arguments: { amount: 50 },
      ok: true,
      content: 'sent 50',
    });
    expect(res.decisions).toEqual([expect.objectContaining({ outcome: 'approved', by: 'alice' })]);
  });

  test('rejected, the tool never runs and the model reads who rejected it and why', async () => {
    const m = marker();
    h.fake.on(m, (req) =>
      hasToolResult(req)
        ? { text: 'Not paid.' }
        : { toolCalls: [{ name: 'transfer', arguments: { amount: 9000 } }] },
    );
    const handle = await h.start('reactWorkflow', {
      input: `${m}: pay`,
      agent: agentWith(openai, ['transfer']),
    });
    await waitForGate(handle);
    await handle.executeUpdate(decideUpdate, {
      args: [{ outcome: 'rejected', by: 'bob', comment: 'too much' }],
    });
    const res = (await handle.result()) as { output: string; result: ReactResult };

    expect(res.output).toBe('Not paid.');
    expect(ran.transfer).toBeUndefined();
    expect(res.result.toolCalls[0]).toMatchObject({ ok: false, error: 'Rejected' });
    const second = h.fake.requests.filter((r) => r.allText.includes(m))[1]!;
    expect(second.messages.find((x) => x.role === 'tool')!.content).toBe(
      "Not run: the call to 'transfer' was rejected by bob: too much.",
    );
  });
});
