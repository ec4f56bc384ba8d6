/**
 * Token streaming in one process (worker and client share the in-memory bus): what the docs in
 * docs/streaming.md promise about history, retries, resuming, cancelling, gates and SSE.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import { createHttpServer } from '../../src/http/server';
import type { StreamEvent } from '../../src/streams';
import type { ModelProfile } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';
import { collect, shownText, words } from '../support/streams';

const openai: ModelProfile = {
  name: 'oa',
  provider: 'openai',
  model: 'gpt-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 2 },
};
const anthropic: ModelProfile = { ...openai, name: 'an', provider: 'anthropic', model: 'claude-test' };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };
const options = { heartbeatTimeout: '5s' };

let h: Harness;
let server: Server;
let base: string;
beforeAll(async () => {
  h = await startHarness();
  server = createHttpServer(h.baton, { token: 'secret' });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await h?.close();
});
beforeEach(() => h.fake.reset());

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

async function historyLength(runId: string): Promise<number> {
  const history = await h.baton.handle(runId).fetchHistory();
  return history.events?.length ?? 0;
}

test('a step streaming 5,000 deltas adds no more history events than a one-delta step, and no delta enters history', async () => {
  const long = words(5000, 'w');
  h.fake.on('long one', { text: long });
  h.fake.on('short one', { text: 'short' });
  const def = (prompt: string) => chain('stream-hist', [{ name: 'say', profile: openai, prompt, retry }]);

  const longId = id('long');
  const events = collect(h.baton.events(longId));
  const longRun = await h.baton.run(def('long one {{input}}'), 'x', { runId: longId, options });
  const seen = await events;
  const shortId = id('short');
  await h.baton.run(def('short one {{input}}'), 'x', { runId: shortId, options });

  const deltas = seen.filter((e) => e.type === 'text.delta');
  expect(deltas).toHaveLength(5000);
  expect(deltas.map((e) => e.text).join('')).toBe(longRun.output);
  expect(seen.map((e) => e.type)).toEqual([
    'step.started',
    ...deltas.map(() => 'text.delta'),
    'step.completed',
    'run.completed',
  ]);
  expect(seen[0]).toMatchObject({ runId: longId, step: 'say', attempt: 1 });
  expect(await historyLength(longId)).toBe(await historyLength(shortId));
  // Read again after the end, from the start: the same events.
  expect((await collect(h.baton.events(longId))).map((e) => e.id)).toEqual(seen.map((e) => e.id));
  const history = JSON.stringify(await h.baton.handle(longId).fetchHistory());
  expect(history).not.toContain('text.delta');
});

test('the result in history is what the provider answered, streamed or not: text, tool calls, usage, cost', async () => {
  h.fake.on('exact reply', {
    text: 'The exact answer, in several words.',
    usage: { input: 120, output: 30, cached: 20 },
  });
  for (const profile of [openai, anthropic]) {
    const runId = id(`exact-${profile.name}`);
    const events = collect(h.baton.events(runId));
    const res = await h.baton.run(
      chain('stream-exact', [{ name: 'say', profile, prompt: 'exact reply {{input}}', retry }]),
      'x',
      { runId, options },
    );
    const step = res.steps[0]!;
    expect(step.output).toBe('The exact answer, in several words.');
    expect(step.usage).toEqual({ inputTokens: 120, outputTokens: 30, cachedInputTokens: 20 });
    // 100 uncached input at $1/M, 20 cached at the input price, 30 output at $2/M.
    expect(step.costUsd).toBeCloseTo((120 * 1 + 30 * 2) / 1e6, 12);
    const done = (await events).find((e) => e.type === 'step.completed')!;
    expect(done.usage).toEqual(step.usage);
    expect(done.costUsd).toBeCloseTo(step.costUsd!, 12);
  }
});

test('an attempt cut mid-stream is announced as step.retrying, so a client that drops its partial text shows exactly the result', async () => {
  const text = words(40, 'r');
  // Newer rules are tried first: the cut answers once, then the whole reply.
  h.fake.on('cut me', { text });
  h.fake.on('cut me', { text, cutAfterEvents: 10, eventDelayMs: 5 }, { times: 1 });
  const runId = id('retry');
  const events = collect(h.baton.events(runId));
  const res = await h.baton.run(
    chain('stream-retry', [{ name: 'say', profile: openai, prompt: 'cut me {{input}}', retry }]),
    'x',
    { runId, options },
  );
  const seen = await events;
  const retrying = seen.find((e) => e.type === 'step.retrying');
  expect(retrying).toMatchObject({ step: 'say', attempt: 2 });
  const before = seen.slice(0, seen.indexOf(retrying!));
  expect(before.filter((e) => e.type === 'text.delta').length).toBeGreaterThan(0);
  expect(shownText(seen).say).toBe(res.output);
  expect(seen.at(-1)!.type).toBe('run.completed');
});

test('a client that reconnects with the last id it saw gets every event once, in order', async () => {
  h.fake.on('resume me', { text: words(300, 'z'), eventDelayMs: 2 });
  const runId = id('resume');
  const whole = collect(h.baton.events(runId));
  const running = h.baton.run(
    chain('stream-resume', [{ name: 'say', profile: openai, prompt: 'resume me {{input}}', retry }]),
    'x',
    { runId, options },
  );
  // First connection: 50 events, then gone; the second resumes after the last one, mid-stream.
  const first = await collect(h.baton.events(runId), 50);
  const second = await collect(h.baton.events(runId, { after: first.at(-1)!.id }));
  await running;
  const ids = (es: StreamEvent[]) => es.map((e) => `${e.type}:${e.text ?? ''}`);
  expect(ids([...first, ...second])).toEqual(ids(await whole));
  expect(new Set([...first, ...second].map((e) => e.id)).size).toBe(first.length + second.length);
  // After the end, resuming after the last event gives nothing.
  expect(await collect(h.baton.events(runId, { after: second.at(-1)!.id }))).toEqual([]);
});

test('cancelling a run ends its streams with run.cancelled', async () => {
  h.fake.on('slow stream', { text: words(2000, 's'), eventDelayMs: 20 });
  const runId = id('cancel');
  const { runId: started } = await h.baton.start(
    chain('stream-cancel', [{ name: 'say', profile: openai, prompt: 'slow stream {{input}}', retry }]),
    'x',
    { runId, options },
  );
  const seen: StreamEvent[] = [];
  for await (const ev of h.baton.events(started)) {
    seen.push(ev);
    if (ev.type === 'text.delta' && seen.filter((e) => e.type === 'text.delta').length === 5)
      await h.baton.cancel(started);
  }
  expect(seen.at(-1)).toMatchObject({ type: 'run.cancelled' });
  expect(seen.filter((e) => e.type === 'text.delta').length).toBeLessThan(2000);
});

test('GET /runs/:id/events streams SSE with gate events and resumes with Last-Event-ID', async () => {
  h.fake.on('sse one', { text: 'DRAFT TEXT' });
  h.fake.on('sse two', { text: 'DONE' });
  const yaml = `
name: sse
profiles:
  oa: { provider: openai, model: gpt-test }
default_profile: oa
agents:
  - name: a
    prompt: "sse one {{input}}"
  - name: gate
    kind: approval
    depends_on: [a]
    deadline: 1h
  - name: b
    depends_on: [gate]
    prompt: "sse two {{gate}}"
`;
  const runId = id('sse');
  const start = await fetch(`${base}/runs`, {
    method: 'POST',
    headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
    body: JSON.stringify({ ensemble: yaml, input: 'go', runId }),
  });
  expect(start.status).toBeLessThan(300);

  const read = async (headers: Record<string, string>, until: (e: StreamEvent) => boolean) => {
    const res = await fetch(`${base}/runs/${runId}/events`, {
      headers: { authorization: 'Bearer secret', ...headers },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    const frames: { id: string; event: string; data: StreamEvent }[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f: Record<string, string> = {};
        for (const line of raw.split('\n')) {
          const j = line.indexOf(':');
          if (j > 0) f[line.slice(0, j)] = line.slice(j + 1).trimStart();
        }
        if (!f.data) continue;
        const data = JSON.parse(f.data) as StreamEvent;
        frames.push({ id: f.id!, event: f.event!, data });
        if (until(data)) {
          await reader.cancel();
          return frames;
        }
      }
    }
    return frames;
  };

  const first = await read({}, (e) => e.type === 'gate.waiting');
  expect(first.map((f) => f.event)).toEqual([
    'step.started',
    'text.delta',
    'text.delta',
    'step.completed',
    'gate.waiting',
  ]);
  for (const f of first) {
    expect(f.event).toBe(f.data.type);
    expect(f.id).toBe(f.data.id);
  }
  expect(first.at(-1)!.data).toMatchObject({ gate: 'gate', step: 'gate' });
  await h.baton.approve(runId, { gate: 'gate', by: 'alice' });
  const afterText = first[3]!.id;
  const rest = await read({ 'last-event-id': afterText }, (e) => e.type.startsWith('run.'));
  const types = rest.map((f) => f.event);
  // Resumed after step.completed: the gate (still waiting or just decided), the next step, the end.
  expect(types.filter((t) => t === 'step.started')).toHaveLength(1);
  expect(types).toContain('gate.decided');
  // Recorded once, though both readers saw the gate.
  expect(types.filter((t) => t === 'gate.waiting')).toHaveLength(1);
  expect(rest.find((f) => f.event === 'gate.decided')!.data).toMatchObject({
    decision: 'approved',
    by: 'alice',
  });
  expect(types.at(-1)).toBe('run.completed');
  expect(rest.at(-1)!.data.output).toBe('DONE');

  const bad = await fetch(`${base}/runs/${runId}/events?after=nonsense`, {
    headers: { authorization: 'Bearer secret' },
  });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toContain("after: 'nonsense' is not an event id");
});

test('closing a client ends its open event streams without an error, and the run goes on', async () => {
  h.fake.on('close stream', { text: words(400, 'c'), eventDelayMs: 10 });
  const other = await BatonClient.connect({
    connection: h.connection,
    namespace: h.namespace,
    taskQueue: h.taskQueue,
  });
  other.eventBus = h.baton.eventBus;
  const runId = id('close');
  await h.baton.start(
    chain('stream-close', [{ name: 'say', profile: openai, prompt: 'close stream {{input}}', retry }]),
    'x',
    { runId, options },
  );
  const seen: StreamEvent[] = [];
  for await (const ev of other.events(runId, { pollMs: 20 })) {
    seen.push(ev);
    if (ev.type === 'text.delta') await other.close();
  }
  expect(seen.some((e) => e.type === 'text.delta')).toBe(true);
  expect(seen.some((e) => e.type.startsWith('run.'))).toBe(false);
  // Only the reader stopped: the run completes with the whole text.
  expect((await h.baton.result(runId)).output).toBe(words(400, 'c'));
});
