/**
 * Streaming (docs/streaming.md) of Gemini calls and of batch fan-out calls, end to end on the real
 * server with the wire-level fake: what a client reading `baton.events()` sees, and that it ends
 * with exactly what the run recorded.
 */
import { chain } from '../../src/define';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import type { FakeRequest } from '../support/fake-model-server';
import { startHarness, type Harness } from '../support/harness';
import { collect, shownText, words } from '../support/streams';

const gemini: ModelProfile = {
  name: 'gem',
  provider: 'gemini',
  model: 'gemini-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 2 },
};
const openai: ModelProfile = { ...gemini, name: 'oa', provider: 'openai', model: 'gpt-test' };
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };
const options = { heartbeatTimeout: '5s' };

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

describe('Gemini', () => {
  test('a Gemini step streams its text as deltas; the result in history is what the provider answered', async () => {
    h.fake.on('gem exact', {
      text: 'The exact answer, in several words.',
      usage: { input: 120, output: 30 },
    });
    const runId = id('gem-exact');
    const events = collect(h.baton.events(runId));
    const res = await h.baton.run(
      chain('gem-exact', [{ name: 'say', profile: gemini, prompt: 'gem exact {{input}}', retry }]),
      'x',
      { runId, options },
    );
    const seen = await events;
    const step = res.steps[0]!;
    expect(step.output).toBe('The exact answer, in several words.');
    expect(step.usage).toEqual({ inputTokens: 120, outputTokens: 30, cachedInputTokens: 0 });
    const deltas = seen.filter((e) => e.type === 'text.delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((e) => e.text).join('')).toBe(step.output);
    expect(seen.map((e) => e.type)).toEqual([
      'step.started',
      ...deltas.map(() => 'text.delta'),
      'step.completed',
      'run.completed',
    ]);
    const done = seen.find((e) => e.type === 'step.completed')!;
    expect(done).toMatchObject({ step: 'say', usage: step.usage, finishReason: 'stop' });
    expect(done.costUsd).toBeCloseTo(step.costUsd!, 12);
    expect(h.fake.requests.every((r) => r.api === 'gemini' && r.stream)).toBe(true);
  });

  test('a Gemini stream cut mid-way is announced as step.retrying, so a client that drops its partial text shows exactly the result', async () => {
    const text = words(40, 'g');
    h.fake.on('gem cut', { text });
    h.fake.on('gem cut', { text, cutAfterEvents: 10, eventDelayMs: 5 }, { times: 1 });
    const runId = id('gem-cut');
    const events = collect(h.baton.events(runId));
    const res = await h.baton.run(
      chain('gem-cut', [{ name: 'say', profile: gemini, prompt: 'gem cut {{input}}', retry }]),
      'x',
      { runId, options },
    );
    const seen = await events;
    const retrying = seen.find((e) => e.type === 'step.retrying');
    expect(retrying).toMatchObject({ step: 'say', attempt: 2 });
    const before = seen.slice(0, seen.indexOf(retrying!));
    expect(before.filter((e) => e.type === 'text.delta').length).toBeGreaterThan(0);
    expect(res.output).toBe(text);
    expect(shownText(seen).say).toBe(res.output);
    expect(h.fake.count()).toBe(2);
  });
});

describe('batch fan-out', () => {
  function def(t: string): EnsembleDefinition {
    return {
      name: 'batch-stream',
      steps: [
        { kind: 'agent', name: 'list', dependsOn: [], profile: openai, prompt: `List ${t} {{input}}` },
        {
          kind: 'agent',
          name: 'each',
          dependsOn: ['list'],
          profile: openai,
          prompt: 'Item {{item}}',
          fanOut: { from: 'list', batch: { size: 4 } },
          retry,
        },
      ],
    };
  }

  test("each call of a batch streams its deltas and step events under its instance's name, and a retried call is announced", async () => {
    const t = `s${Math.random().toString(36).slice(2, 7)}`;
    const list = Array.from({ length: 4 }, (_, i) => `${t}-${i}`);
    const answer = (item: string) => `${words(12, `${item}w`)} end`;
    h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
    h.fake.on(
      (r: FakeRequest) => r.lastUserText.startsWith(`Item ${t}-`),
      (r) => ({ text: answer(r.lastUserText.slice(5)) }),
    );
    // Instance 2's first attempt is cut after a few deltas; the batch retries that call alone.
    h.fake.on(`Item ${t}-2`, { text: answer(`${t}-2`), cutAfterEvents: 4, eventDelayMs: 5 }, { times: 1 });
    // Instance 1's first attempt is rate limited (429, no stream at all).
    h.fake.on(`Item ${t}-1`, { status: 429, headers: { 'retry-after-ms': '100' } }, { times: 1 });
    const runId = id('batch');
    const events = collect(h.baton.events(runId));
    const res = await h.baton.run(def(t), 'x', { runId, options });
    const seen = await events;

    const outputs = JSON.parse(res.output) as string[];
    expect(outputs).toEqual(list.map(answer));
    // The four calls ran in one batch activity, not one activity each.
    const history = await h.baton.handle(runId).fetchHistory();
    const scheduled = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter(Boolean);
    expect(scheduled).toEqual(['callModel', 'callModelBatch']);

    const shown = shownText(seen);
    for (const [i, item] of list.entries()) {
      const step = `each[${i}]`;
      const mine = seen.filter((e) => e.step === step);
      expect(mine[0]).toMatchObject({ type: 'step.started', attempt: 1 });
      expect(mine.filter((e) => e.type === 'text.delta').length).toBeGreaterThan(1);
      expect(mine.filter((e) => e.type === 'step.completed')).toHaveLength(1);
      expect(mine.at(-1)).toMatchObject({ type: 'step.completed', finishReason: 'stop' });
      expect(shown[step]).toBe(outputs[i]);
      expect(outputs[i]).toBe(answer(item));
    }
    const two = seen.filter((e) => e.step === 'each[2]');
    const retrying = two.findIndex((e) => e.type === 'step.retrying');
    expect(two[retrying]).toMatchObject({ attempt: 2 });
    expect(two.slice(0, retrying).filter((e) => e.type === 'text.delta').length).toBeGreaterThan(0);
    const one = seen.filter((e) => e.step === 'each[1]').map((e) => e.type);
    expect(one[0]).toBe('step.started');
    expect(one[1]).toBe('step.retrying');
    expect(h.fake.requests.filter((r) => r.lastUserText === `Item ${t}-1`)).toHaveLength(2);
    for (const i of [0, 3]) {
      expect(seen.filter((e) => e.step === `each[${i}]` && e.type === 'step.retrying')).toHaveLength(0);
    }
    expect(seen.at(-1)!.type).toBe('run.completed');
  });

  test('a batch call that fails for good ends its stream with step.failed under its instance name', async () => {
    const t = `f${Math.random().toString(36).slice(2, 7)}`;
    const list = [`${t}-0`, `${t}-1`];
    h.fake.on(`List ${t}`, { text: JSON.stringify(list) });
    h.fake.on(`Item ${t}-0`, { text: 'fine' });
    h.fake.on(`Item ${t}-1`, { status: 401 });
    const runId = id('batch-fail');
    const events = collect(h.baton.events(runId));
    await expect(h.baton.run(def(t), 'x', { runId, options })).rejects.toThrow();
    const seen = await events;
    expect(seen.filter((e) => e.step === 'each[1]').map((e) => e.type)).toEqual([
      'step.started',
      'step.failed',
    ]);
    expect(seen.find((e) => e.step === 'each[1]' && e.type === 'step.failed')).toMatchObject({
      error: { type: 'ModelAuthError' },
    });
    expect(seen.at(-1)!.type).toBe('run.failed');
  });
});
