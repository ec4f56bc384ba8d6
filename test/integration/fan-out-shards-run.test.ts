/**
 * What a sharded fan-out (docs/scale.md) shows of itself in its run, end to end on the real server
 * with the wire-level fake: its calls stream under the run's id with each instance's name, a step
 * whose tools require approval opens its gates in the run (it does not shard), and a batch
 * instance's structured-output repair streams under the instance's name.
 */
import { Client } from '@temporalio/client';
import { z } from 'zod';
import type { MemoryStore, StoredMemory } from '../../src/activities/memory';
import { createTool } from '../../src/activities/tools';
import type { AgentStep, EnsembleDefinition, FanOut, ModelProfile } from '../../src/types';
import type { FakeRequest } from '../support/fake-model-server';
import { startHarness, type Harness } from '../support/harness';
import { collect } from '../support/streams';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test', maxTokens: 20 };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };

/** Items the `send` tool (approval required by its registration) was called with. */
const sent: string[] = [];
const send = createTool({
  name: 'send',
  description: 'Sends an item somewhere; needs approval.',
  input: z.object({ item: z.string() }),
  requiresApproval: true,
  run: ({ item }) => {
    sent.push(item);
    return 'sent';
  },
});

/** Every memory the worker stored. */
const stored: StoredMemory[] = [];
const store: MemoryStore = {
  add: (m) => {
    stored.push(m);
    return Promise.resolve();
  },
  search: () => Promise.resolve([]),
  forget: () => Promise.resolve(0),
};

/** Items the `note` tool (no approval in its registration) was called with. */
const noted: string[] = [];
const note = createTool({
  name: 'note',
  description: 'Notes an item.',
  input: z.object({ item: z.string() }),
  run: ({ item }) => {
    noted.push(item);
    return 'sent';
  },
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ tools: [send, note], memoryStore: store });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());
jest.setTimeout(240_000);

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const tag = () => `t${Math.random().toString(36).slice(2, 7)}`;
const items = (n: number, t: string) => Array.from({ length: n }, (_, i) => `${t}-${i}`);

function def(t: string, fanOut: Omit<FanOut, 'from'>, each: Partial<AgentStep> = {}): EnsembleDefinition {
  return {
    name: 'shard-run',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `List ${t} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: 'Item {{item}}',
        fanOut: { from: 'list', ...fanOut },
        retry,
        ...each,
      },
    ],
  };
}

async function childStarts(runId: string): Promise<string[]> {
  const client = new Client({ connection: h.connection, namespace: h.namespace });
  const history = await client.workflow.getHandle(runId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((w): w is string => typeof w === 'string');
}

describe.each([
  ['batch', { batch: { size: 2 } }],
  ['one activity per instance', {}],
])('streaming of a sharded fan-out (%s)', (_name, extra) => {
  test("every instance's calls stream under the run's id with its name among all items, then run.completed", async () => {
    const t = tag();
    const list = items(9, t);
    const answer = (item: string) => `answer for ${item} in words`;
    h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
    h.fake.on(
      (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
      (r) => ({ text: answer(r.lastUserText.slice('Item '.length)) }),
    );
    const runId = id('shard-stream');
    const events = collect(h.baton.events(runId));
    const res = await h.baton.run(def(t, { ...extra, shard: { size: 3 } }), 'go', { runId });
    const seen = await events;
    expect(JSON.parse(res.output)).toEqual(list.map(answer));
    // It did run in 3 shards.
    expect(await childStarts(runId)).toEqual([0, 1, 2].map((k) => `${runId}/each/shard-${k}`));
    for (const [i, item] of list.entries()) {
      const mine = seen.filter((e) => e.step === `each[${i}]`);
      expect(mine.map((e) => e.type)).toEqual([
        'step.started',
        ...mine.filter((e) => e.type === 'text.delta').map(() => 'text.delta'),
        'step.completed',
      ]);
      expect(
        mine
          .filter((e) => e.type === 'text.delta')
          .map((e) => e.text)
          .join(''),
      ).toBe(answer(item));
    }
    const names = new Set(seen.map((e) => e.step).filter((s) => s !== undefined));
    expect([...names].sort()).toEqual(['list', ...list.map((_, i) => `each[${i}]`)].sort());
    expect(seen.filter((e) => e.type.startsWith('run.')).map((e) => e.type)).toEqual(['run.completed']);
    expect(seen[seen.length - 1]!.type).toBe('run.completed');
  });
});

test.each([
  ['by its registration', 'send', { name: 'send' }],
  ["by the step's tool list", 'note', { name: 'note', requiresApproval: true }],
])(
  'a wide fan-out of a step whose tool requires approval (%s) does not shard: its gates open in the run, are listed, and it completes once approved',
  async (_how, tool, ref) => {
    const t = tag();
    const list = items(5, t);
    const calls = tool === 'send' ? sent : noted;
    calls.length = 0;
    h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
    h.fake.on(
      (r: FakeRequest) =>
        r.messages.some((m) => m.role === 'tool') || r.lastUserText.startsWith(`Item ${t}-`),
      (r) =>
        r.messages.some((m) => m.role === 'tool')
          ? { text: 'done' }
          : { toolCalls: [{ name: tool, arguments: { item: r.lastUserText.slice('Item '.length) } }] },
    );
    const runId = id('shard-gates');
    await h.baton.start(def(t, { shard: { size: 2 } }, { tools: [ref] }), 'go', { runId });
    let pending = await h.baton.pendingApprovals(runId);
    for (let i = 0; i < 300 && pending.length < list.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pending = await h.baton.pendingApprovals(runId);
    }
    expect(pending).toHaveLength(list.length);
    expect(calls).toEqual([]);
    for (const p of pending) await h.baton.approve(runId, { by: 'alice', gate: p.gate });
    const res = await h.baton.result(runId);
    expect(JSON.parse(res.output)).toEqual(list.map(() => 'done'));
    expect([...calls].sort()).toEqual([...list].sort());
    expect(await childStarts(runId)).toEqual([]);
  },
);

test("a wide fan-out of a step with memory does not shard: each memory's source is the run", async () => {
  const t = tag();
  const list = items(4, t);
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on(
    (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
    (r) => ({ text: `noted ${r.lastUserText}` }),
  );
  const runId = id('shard-memory');
  const embedding: ModelProfile = { name: 'emb', provider: 'openai', model: 'text-embedding-test' };
  const namespace = `ns-${t}`;
  const res = await h.baton.run(
    def(t, { shard: { size: 2 } }, { remember: { namespace, embedding } }),
    'go',
    {
      runId,
    },
  );
  expect(JSON.parse(res.output)).toEqual(list.map((i) => `noted Item ${i}`));
  const mine = stored.filter((m) => m.scope.namespace === namespace);
  expect(mine.map((m) => m.text).sort()).toEqual(list.map((i) => `noted Item ${i}`).sort());
  expect(mine.map((m) => m.source?.runId)).toEqual(list.map(() => runId));
  expect(await childStarts(runId)).toEqual([]);
});

test("a batch instance's structured-output repair call streams under the instance's name", async () => {
  const t = tag();
  const list = items(4, t);
  const schema = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] };
  h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
  h.fake.on((r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`), { text: '{"n": 1}' });
  // Instance 3's first reply does not fit its schema: it is asked again (a repair call).
  h.fake.on(`Item ${t}-3`, { text: 'not json' }, { times: 1 });
  h.fake.on(
    (r: FakeRequest) => r.messages.length > 2 && r.messages.some((m) => m.content.includes(`Item ${t}-3`)),
    {
      text: '{"n": 3}',
    },
  );
  const runId = id('batch-repair');
  const events = collect(h.baton.events(runId));
  const res = await h.baton.run(def(t, { batch: { size: 4 } }, { outputSchema: schema }), 'go', { runId });
  const seen = await events;
  expect(JSON.parse(res.output)).toEqual(
    [{ n: 1 }, { n: 1 }, { n: 1 }, { n: 3 }].map((o) => JSON.stringify(o)),
  );
  // Two calls of instance 3 (the batch's and the repair), none under the plain step name.
  expect(seen.filter((e) => e.step === 'each[3]' && e.type === 'step.started')).toHaveLength(2);
  expect(seen.filter((e) => e.step === 'each')).toEqual([]);
});

test("a run started with another run's id as streamRunId still streams under its own id", async () => {
  const t = tag();
  h.fake.on(`Say ${t}`, { text: `said ${t}` });
  const victim = id('victim');
  const runId = id('spoof');
  const res = await h.baton.run(
    { name: 'spoof', steps: [{ kind: 'agent', name: 'say', dependsOn: [], profile, prompt: `Say ${t}` }] },
    'go',
    { runId, options: { streamRunId: victim } },
  );
  expect(res.output).toBe(`said ${t}`);
  const own = await collect(h.baton.events(runId));
  expect(own.filter((e) => e.type === 'text.delta').length).toBeGreaterThan(0);
  // Nothing reached the other run's stream.
  expect(await h.baton.eventBus.read(victim, undefined, { blockMs: 0 })).toEqual([]);
});
