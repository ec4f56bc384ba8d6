import { RunFailedError } from '../../src/client';
import { chain, fanOutJoin } from '../../src/define';
import type { ModelProfile } from '../../src/types';
import { fakeEnv, startHarness, type Harness } from '../support/harness';

const openai: ModelProfile = {
  name: 'oa',
  provider: 'openai',
  model: 'gpt-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 2 },
};
const anthropic: ModelProfile = {
  name: 'an',
  provider: 'anthropic',
  model: 'claude-test',
  pricing: { inputPerMTok: 3, outputPerMTok: 15 },
};
// Fast retries, so retried faults do not slow the suite.
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 4 };
const options = { heartbeatTimeout: '3s' };

let h: Harness;
beforeAll(async () => {
  // TEST_MISSING_API_KEY is allowed at the fake's endpoint but never set: a missing key, not a refused one.
  h = await startHarness({
    env: (fake) => ({
      ...fakeEnv(fake),
      BATON_ALLOWED_ENDPOINTS: `${fake.openaiBaseURL}=TEST_MISSING_API_KEY`,
    }),
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

test('a chain feeds each output into the next step, across OpenAI and Anthropic, with usage and cost', async () => {
  h.fake.on('Outline:', { text: 'OUTLINE-1', usage: { input: 100, output: 10 } });
  h.fake.on('Draft from OUTLINE-1', { text: 'DRAFT-2', usage: { input: 200, output: 50, cached: 40 } });
  h.fake.on('Polish DRAFT-2', { text: 'FINAL-3', usage: { input: 300, output: 30 } });
  const def = chain('blog', [
    { name: 'outline', profile: openai, prompt: 'Outline: {{input}}', retry },
    { name: 'draft', profile: anthropic, system: 'You write.', prompt: 'Draft from {{outline}}', retry },
    { name: 'polish', profile: openai, prompt: 'Polish {{steps.draft}}', retry },
  ]);

  const result = await h.baton.run(def, 'durable agents', { runId: id('chain'), options });

  expect(result.status).toBe('completed');
  expect(result.output).toBe('FINAL-3');
  expect(result.steps.map((s) => [s.name, s.status, s.output])).toEqual([
    ['outline', 'completed', 'OUTLINE-1'],
    ['draft', 'completed', 'DRAFT-2'],
    ['polish', 'completed', 'FINAL-3'],
  ]);
  const draft = result.steps[1]!;
  expect(draft.usage).toEqual({ inputTokens: 200, outputTokens: 50, cachedInputTokens: 40 });
  expect(draft.model).toBe('claude-test');
  // Anthropic: 200 input at $3/M, 50 output at $15/M.
  expect(draft.costUsd).toBeCloseTo((200 * 3 + 50 * 15) / 1e6, 10);
  expect(result.usage).toEqual({ inputTokens: 600, outputTokens: 90, cachedInputTokens: 40 });
  expect(result.costUsd).toBeCloseTo((100 + 20 + 600 + 750 + 300 + 60) / 1e6, 10);
  // The system prompt reached Anthropic apart from the messages.
  const draftReq = h.fake.requests.find((r) => r.api === 'anthropic')!;
  expect(draftReq.system).toBe('You write.');
  expect(h.fake.count('Outline:')).toBe(1);
});

test('a fan-out runs branches in parallel and the join sees every branch output', async () => {
  for (const b of ['security', 'style', 'tests'])
    h.fake.on(`Review for ${b}`, { text: `${b.toUpperCase()}-OK` });
  h.fake.on('Combine', { text: 'COMBINED' });
  const def = fanOutJoin(
    'review',
    ['security', 'style', 'tests'].map((b) => ({
      name: b,
      profile: openai,
      prompt: `Review for ${b}: {{input}}`,
    })),
    {
      name: 'combine',
      profile: anthropic,
      prompt: 'Combine:\n{{steps.security}}\n{{steps.style}}\n{{steps.tests}}',
    },
  );

  const result = await h.baton.run(def, 'function f() {}', { runId: id('fan') });

  expect(result.output).toBe('COMBINED');
  const joinReq = h.fake.requests.find((r) => r.allText.includes('Combine'))!;
  expect(joinReq.lastUserText).toContain('SECURITY-OK');
  expect(joinReq.lastUserText).toContain('STYLE-OK');
  expect(joinReq.lastUserText).toContain('TESTS-OK');
  expect(h.fake.count(/Review for/)).toBe(3);
});

test('progress shows each step status and output while the run goes on', async () => {
  h.fake.on('step one', { text: 'ONE' });
  h.fake.on('step two', { text: 'TWO', delayMs: 3000 });
  const def = chain('slow', [
    { name: 'a', profile: openai, prompt: 'step one {{input}}' },
    { name: 'b', profile: openai, prompt: 'step two {{a}}' },
    { name: 'c', profile: openai, prompt: 'step three {{b}}' },
  ]);
  const { runId } = await h.baton.start(def, 'x', { runId: id('progress') });
  await h.fake.waitFor('step two');

  const p = await h.baton.progress(runId);
  expect(p.status).toBe('running');
  expect(p.steps.map((s) => [s.name, s.status])).toEqual([
    ['a', 'completed'],
    ['b', 'running'],
    ['c', 'pending'],
  ]);
  expect(p.steps[0]!.output).toBe('ONE');
  expect(p.steps[0]!.calls).toBe(1);
  await h.baton.result(runId);
});

test('starting twice with the same run id runs once', async () => {
  h.fake.on('only once', { text: 'DONE', delayMs: 500 });
  const def = chain('idem', [{ name: 'a', profile: openai, prompt: 'only once {{input}}' }]);
  const runId = id('idem');
  const first = await h.baton.start(def, 'x', { runId });
  const second = await h.baton.start(def, 'x', { runId });
  expect(first.started).toBe(true);
  expect(second.started).toBe(false);
  await h.baton.result(runId);
  const third = await h.baton.start(def, 'x', { runId });
  expect(third.started).toBe(false);
  expect(h.fake.count('only once')).toBe(1);
});

describe('transient faults are retried by Temporal, not the SDK', () => {
  test.each([
    ['429 with retry-after-ms', { status: 429, headers: { 'retry-after-ms': '150' }, message: 'slow down' }],
    ['429 with retry-after seconds', { status: 429, headers: { 'retry-after': '0' }, message: 'slow down' }],
    ['500', { status: 500, message: 'boom' }],
    ['503', { status: 503, message: 'unavailable' }],
    ['529 overloaded', { status: 529, errorType: 'overloaded_error', message: 'overloaded' }],
    ['a cut connection', { cut: true }],
  ])('%s, then success', async (_name, fault) => {
    const marker = `fault-${Math.random()}`;
    h.fake.on(marker, { text: 'RECOVERED' });
    h.fake.on(marker, fault, { times: 1 });
    const def = chain('retry', [{ name: 'a', profile: anthropic, prompt: `${marker} {{input}}`, retry }]);
    const result = await h.baton.run(def, 'x', { runId: id('retry') });
    expect(result.output).toBe('RECOVERED');
    expect(h.fake.count(marker)).toBe(2);
    expect(result.steps[0]!.attempts).toBe(2);
  });
});

describe('errors no retry can fix fail at once, name the step and keep earlier results', () => {
  test.each([
    [
      '401',
      { status: 401, message: 'Incorrect API key provided' },
      'ModelAuthError',
      /rejected the API key.*Incorrect API key provided/,
    ],
    ['403', { status: 403, message: 'not allowed' }, 'ModelAuthError', /not allowed/],
    [
      '429 insufficient_quota',
      { status: 429, errorType: 'insufficient_quota', message: 'You exceeded your current quota' },
      'ModelQuotaError',
      /out of quota.*You exceeded your current quota/,
    ],
    [
      '400',
      { status: 400, message: 'max_tokens is too large' },
      'ModelBadRequest',
      /refused the request.*max_tokens is too large/,
    ],
    ['404', { status: 404, message: 'The model gpt-x does not exist' }, 'ModelBadRequest', /does not exist/],
    ['422', { status: 422, message: 'unprocessable' }, 'ModelBadRequest', /unprocessable/],
  ])('%s', async (_name, fault, type, message) => {
    h.fake.on('first step', { text: 'FIRST' });
    h.fake.on('second step', fault);
    const def = chain('fails', [
      { name: 'first', profile: openai, prompt: 'first step {{input}}', retry },
      { name: 'second', profile: openai, prompt: 'second step {{first}}', retry },
    ]);
    const err = await h.baton.run(def, 'x', { runId: id('fail') }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(RunFailedError);
    const failed = err as RunFailedError;
    expect(failed.step).toBe('second');
    expect(failed.message).toMatch(message);
    expect(failed.progress?.steps.find((s) => s.name === 'second')?.error?.type).toBe(type);
    expect(failed.progress?.steps.find((s) => s.name === 'first')?.output).toBe('FIRST');
    expect(h.fake.count('second step')).toBe(1);
  });

  test('a key missing from the worker environment fails at once with what to set', async () => {
    const def = chain('nokey', [
      { name: 'a', profile: { ...openai, apiKeyEnv: 'TEST_MISSING_API_KEY' }, prompt: '{{input}}' },
    ]);
    const err = (await h.baton
      .run(def, 'x', { runId: id('nokey') })
      .catch((e: unknown) => e)) as RunFailedError;
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err.message).toMatch(/TEST_MISSING_API_KEY is not set in the worker's environment/);
    expect(err.progress?.steps[0]?.error?.type).toBe('ModelConfigError');
    expect(h.fake.count()).toBe(0);
  });
});

test('a run cannot make the worker send a variable not bound to the endpoint (here TEMPORAL_API_KEY)', async () => {
  const def = chain('exfil', [
    { name: 'a', profile: { ...openai, apiKeyEnv: 'TEMPORAL_API_KEY' }, prompt: '{{input}}' },
  ]);
  const err = (await h.baton
    .run(def, 'x', { runId: id('exfil') })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err.progress?.steps[0]?.error?.type).toBe('EndpointNotAllowed');
  expect(err.message).toMatch(
    /would send TEMPORAL_API_KEY to .*this worker does not hand TEMPORAL_API_KEY to that endpoint/,
  );
  expect(h.fake.count()).toBe(0);
});

test('a budget with on_exceeded: fail stops the run before the call that would exceed it', async () => {
  h.fake.on('budget', { text: 'SPENT', usage: { input: 600, output: 500 } });
  const capped = { ...openai, maxTokens: 100 };
  const def = chain(
    'budget',
    [
      { name: 'a', profile: capped, prompt: 'budget a {{input}}' },
      { name: 'b', profile: capped, prompt: 'budget b {{a}}' },
    ],
    { budget: { maxTokens: 1000, onExceeded: 'fail' } },
  );
  const err = (await h.baton
    .run(def, 'x', { runId: id('budget') })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.type).toBe('BudgetExceeded');
  expect(err.message).toMatch(/step 'b'.*used 1100 tokens of max_tokens 1000/);
  expect(h.fake.count('budget')).toBe(1);
});

test('cancel stops a run and aborts its in-flight model call', async () => {
  h.fake.on('very slow', { text: 'never', delayMs: 60_000 });
  const def = chain('cancel', [{ name: 'a', profile: openai, prompt: 'very slow {{input}}' }]);
  const { runId } = await h.baton.start(def, 'x', {
    runId: id('cancel'),
    options: { heartbeatTimeout: '1s' },
  });
  await h.fake.waitFor('very slow');
  await h.baton.cancel(runId);
  await expect(h.baton.result(runId)).rejects.toThrow(/cancel/i);
  // The activity saw the cancel on its next heartbeat and aborted the HTTP request.
  for (let i = 0; i < 100 && h.fake.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(h.fake.inFlight).toBe(0);
});

test('a connection that keeps breaking ends as ModelTransientError after the retries', async () => {
  h.fake.on('always cut', { cut: true });
  const def = chain('cut', [
    { name: 'a', profile: openai, prompt: 'always cut {{input}}', retry: { ...retry, maximumAttempts: 2 } },
  ]);
  const err = (await h.baton.run(def, 'x', { runId: id('cut') }).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.progress?.steps[0]?.error?.type).toBe('ModelTransientError');
  expect(err.message).toMatch(/Could not reach openai/);
  expect(h.fake.count('always cut')).toBe(2);
});

test('with localActivities, model calls run as local activities: same results, faults still retried', async () => {
  h.fake.on('local one', { text: 'L1' });
  h.fake.on('local two', { text: 'L2' });
  h.fake.on('local two', { status: 503, message: 'busy' }, { times: 1 });
  const def = chain('local', [
    { name: 'a', profile: openai, prompt: 'local one {{input}}', retry },
    { name: 'b', profile: openai, prompt: 'local two {{a}}', retry },
  ]);
  const runId = id('local');
  const result = await h.baton.run(def, 'x', { runId, options: { localActivities: true } });
  expect(result.steps.map((s) => s.output)).toEqual(['L1', 'L2']);
  expect(h.fake.count('local one')).toBe(1);
  expect(h.fake.count('local two')).toBe(2);
  // Recorded as local activity markers, not as activity tasks.
  const events = (await h.baton.handle(runId).fetchHistory()).events ?? [];
  expect(events.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
  expect(events.filter((e) => e.markerRecordedEventAttributes).length).toBeGreaterThanOrEqual(2);
});
