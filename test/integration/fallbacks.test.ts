/**
 * Fallback profiles on the real server, with the real OpenAI, Anthropic and Gemini clients talking
 * to the wire-level fake: a call that fails for good with one profile goes to the next, progress
 * and usage name the profile that answered, and the budget covers each profile's call.
 */
import { RunFailedError } from '../../src/client';
import { loadEnsembleText } from '../../src/config';
import { chain } from '../../src/define';
import type { ModelProfile } from '../../src/types';
import { worstCaseOf } from '../../src/workflows/ledger';
import { fakeEnv, startHarness, type Harness } from '../support/harness';

const gemini: ModelProfile = {
  name: 'gm',
  provider: 'gemini',
  model: 'gemini-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 1 },
};
const anthropic: ModelProfile = { name: 'an', provider: 'anthropic', model: 'claude-test' };
const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
// Fast retries, so retried faults do not slow the suite.
const retry = { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 };

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: (fake) => fakeEnv(fake) });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const byApi = (api: string) => h.fake.requests.filter((r) => r.api === api).length;

test('primary answers 401: the fallback answers, and progress and usage name it and the failed profile', async () => {
  h.fake.on((r) => r.api === 'openai', { status: 401, message: 'Incorrect API key provided.' });
  h.fake.on((r) => r.api === 'gemini', { text: 'FROM-GEMINI', usage: { input: 100, output: 20 } });
  const def = chain('fb-auth', [
    { name: 'ask', profile: { ...openai, fallbacks: [gemini] }, prompt: 'Q: {{input}}', retry },
  ]);

  const result = await h.baton.run(def, 'hello', { runId: id('fb-auth') });

  expect(result.output).toBe('FROM-GEMINI');
  const step = result.steps[0]!;
  expect(step).toMatchObject({
    status: 'completed',
    profile: 'gm',
    model: 'gemini-test',
    calls: 1,
    usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 0 },
    fallbacks: [
      {
        profile: 'oa',
        provider: 'openai',
        model: 'gpt-test',
        next: 'gm',
        error: { type: 'ModelAuthError', message: expect.stringContaining('Incorrect API key provided.') },
      },
    ],
  });
  expect(step.costUsd).toBeCloseTo(120 / 1e6, 10);
  expect(result.costUsd).toBeCloseTo(120 / 1e6, 10);
  // A non-retryable error moves on at once: one request each.
  expect(byApi('openai')).toBe(1);
  expect(byApi('gemini')).toBe(1);
});

test('primary overloaded (529) until its retries run out: the next profile answers', async () => {
  h.fake.on((r) => r.api === 'anthropic', { status: 529 });
  const def = chain('fb-overload', [
    {
      name: 'ask',
      profile: { ...anthropic, fallbacks: [gemini] },
      prompt: 'Q: {{input}}',
      retry: { ...retry, maximumAttempts: 2 },
    },
  ]);

  const result = await h.baton.run(def, 'busy', { runId: id('fb-529') });

  expect(result.output).toBe('echo: Q: busy');
  expect(result.steps[0]).toMatchObject({ profile: 'gm', model: 'gemini-test' });
  expect(result.steps[0]!.fallbacks).toEqual([
    expect.objectContaining({ profile: 'an', error: expect.objectContaining({ type: 'ModelServerError' }) }),
  ]);
  expect(byApi('anthropic')).toBe(2);
  expect(byApi('gemini')).toBe(1);
});

test('profiles are tried in order; when every one fails the step fails with the last error and lists the others', async () => {
  h.fake.on((r) => r.api === 'openai', { status: 401 });
  h.fake.on((r) => r.api === 'gemini', { status: 400, message: 'Invalid JSON payload received.' });
  h.fake.on((r) => r.api === 'anthropic', { status: 403, message: 'forbidden model' });
  const def = chain('fb-all', [
    { name: 'ask', profile: { ...openai, fallbacks: [gemini, anthropic] }, prompt: 'Q: {{input}}', retry },
  ]);

  const err = (await h.baton
    .run(def, 'x', { runId: id('fb-all') })
    .catch((e: unknown) => e)) as RunFailedError;

  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain('forbidden model');
  const step = err.progress!.steps[0]!;
  expect(step.status).toBe('failed');
  expect(step.fallbacks!.map((f) => [f.profile, f.error.type, f.next])).toEqual([
    ['oa', 'ModelAuthError', 'gm'],
    ['gm', 'ModelBadRequest', 'an'],
  ]);
  expect([byApi('openai'), byApi('gemini'), byApi('anthropic')]).toEqual([1, 1, 1]);
});

test('a budget too small for the fallback call stops the run before the fallback is sent', async () => {
  h.fake.on((r) => r.api === 'openai', { status: 401 });
  const dear: ModelProfile = {
    ...gemini,
    name: 'dear',
    pricing: { inputPerMTok: 1000, outputPerMTok: 1000 },
  };
  const def = chain(
    'fb-budget',
    [{ name: 'ask', profile: { ...openai, fallbacks: [dear] }, prompt: 'Q: {{input}}', retry }],
    {
      budget: { maxCostUsd: 0.01, onExceeded: 'fail' },
    },
  );
  // The fallback's worst case alone is over the budget (the primary is free).
  const worst = worstCaseOf({ profile: dear, messages: [{ role: 'user', content: 'Q: x' }] });
  expect(worst.costUsd).toBeGreaterThan(0.01);

  const err = (await h.baton
    .run(def, 'x', { runId: id('fb-budget') })
    .catch((e: unknown) => e)) as RunFailedError;

  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.type).toBe('BudgetExceeded');
  expect(err.message).toContain("budget exceeded before step 'ask'");
  expect(err.progress!.steps[0]!.fallbacks!.map((f) => f.profile)).toEqual(['oa']);
  expect(byApi('openai')).toBe(1);
  expect(byApi('gemini')).toBe(0);
});

test('a budget gate opens for the fallback call when it does not fit, and approving it lets the fallback answer', async () => {
  h.fake.on((r) => r.api === 'openai', { status: 401 });
  h.fake.on((r) => r.api === 'gemini', { text: 'PAID-FOR' });
  const dear: ModelProfile = {
    ...gemini,
    name: 'dear',
    pricing: { inputPerMTok: 1000, outputPerMTok: 1000 },
  };
  const def = chain(
    'fb-gate',
    [{ name: 'ask', profile: { ...openai, fallbacks: [dear] }, prompt: 'Q: {{input}}', retry }],
    {
      budget: { maxCostUsd: 0.01 },
    },
  );
  const runId = id('fb-gate');
  await h.baton.start(def, 'x', { runId });
  for (let i = 0; ; i++) {
    const pending = await h.baton.pendingApprovals(runId);
    if (pending.some((p) => p.kind === 'budget')) break;
    if (i > 300) throw new Error('no budget gate opened');
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(byApi('gemini')).toBe(0);
  await h.baton.approve(runId, { gate: 'budget', by: 'alice', budget: { maxCostUsd: 100 } });

  const result = await h.baton.result(runId);
  expect(result.output).toBe('PAID-FOR');
  expect(result.steps[0]!.profile).toBe('dear');
  expect(byApi('gemini')).toBe(1);
});

test('a call that times out on every attempt, and a profile the worker may not call, both move on', async () => {
  h.fake.on((r) => r.api === 'openai', { text: 'TOO-LATE', delayMs: 5000 });
  h.fake.on((r) => r.api === 'gemini', { text: 'IN-TIME' });
  // The worker does not hand OTHER_KEY to the fake's endpoint: EndpointNotAllowed, nothing sent.
  const refused: ModelProfile = { ...anthropic, name: 'refused', apiKeyEnv: 'OTHER_KEY' };
  const def = chain('fb-timeout', [
    {
      name: 'ask',
      profile: { ...openai, fallbacks: [refused, gemini] },
      prompt: 'Q: {{input}}',
      timeout: '1s',
      retry: { ...retry, maximumAttempts: 1 },
    },
  ]);

  const result = await h.baton.run(def, 'x', { runId: id('fb-timeout') });

  expect(result.output).toBe('IN-TIME');
  expect(result.steps[0]!.fallbacks!.map((f) => [f.profile, f.error.type])).toEqual([
    ['oa', 'Timeout'],
    ['refused', 'EndpointNotAllowed'],
  ]);
  expect(byApi('anthropic')).toBe(0);
});

test('a profile without fallbacks fails the step as before, after its retries', async () => {
  h.fake.on((r) => r.api === 'openai', { status: 503 });
  const def = chain('fb-none', [
    { name: 'ask', profile: openai, prompt: 'Q: {{input}}', retry: { ...retry, maximumAttempts: 2 } },
  ]);
  const err = (await h.baton
    .run(def, 'x', { runId: id('fb-none') })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.progress!.steps[0]!.fallbacks).toBeUndefined();
  expect(byApi('openai')).toBe(2);
});

test('an ensemble in YAML: a profile with fallback_profiles falls back to a Gemini profile', async () => {
  h.fake.on((r) => r.api === 'anthropic', { status: 429, errorType: 'rate_limit_error' });
  h.fake.on((r) => r.api === 'gemini', { text: 'YAML-GEMINI' });
  const def = loadEnsembleText(
    [
      'name: fb-yaml',
      'profiles:',
      '  claude: { provider: anthropic, model: claude-test, fallback_profiles: [flash] }',
      '  flash: { provider: gemini, model: gemini-test }',
      'agents:',
      '  - name: ask',
      '    model_profile: claude',
      '    retry: { max_attempts: 2, initial_interval: 100ms }',
    ].join('\n'),
    'fb.yaml',
    { config: { profiles: {}, files: [] } },
  );

  const result = await h.baton.run(def, 'hi', { runId: id('fb-yaml') });

  expect(result.output).toBe('YAML-GEMINI');
  expect(result.steps[0]).toMatchObject({ profile: 'flash', model: 'gemini-test' });
  expect(result.steps[0]!.fallbacks![0]!.error.type).toBe('ModelRateLimited');
  expect(byApi('anthropic')).toBe(2);
});
