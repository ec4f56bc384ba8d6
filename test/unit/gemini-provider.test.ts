/**
 * The Gemini provider through the model activity, with the real @google/genai client talking
 * HTTP to the wire-level fake: text, system instruction, tools, JSON-schema output, usage, cost,
 * errors and the endpoint policy.
 */
import { GoogleGenAI } from '@google/genai';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { EndpointPolicy } from '../../src/activities/endpoints';
import { createModelActivities } from '../../src/activities/model';
import { BUILTIN_PROFILES } from '../../src/config';
import { replyOf, toGeminiContents } from '../../src/activities/providers/gemini';
import { MemoryEventBus } from '../../src/streams';
import type { ModelProfile, ModelRequest, ModelResponse } from '../../src/types';
import { FakeModelServer } from '../support/fake-model-server';

let server: FakeModelServer;
let acts: ReturnType<typeof createModelActivities>;

const profile: ModelProfile = {
  name: 'gem',
  provider: 'gemini',
  model: 'gemini-test',
  pricing: { inputPerMTok: 0.3, outputPerMTok: 2.5, cachedInputPerMTok: 0.03 },
};

beforeAll(async () => {
  server = await FakeModelServer.start();
  acts = createModelActivities({
    env: { GEMINI_API_KEY: 'gm-test-key', GOOGLE_GEMINI_BASE_URL: server.geminiBaseURL },
  });
});
afterAll(() => server.close());
beforeEach(() => server.reset());

const call = (req: Partial<ModelRequest>, a = acts): Promise<ModelResponse> => {
  const full: ModelRequest = { profile, messages: [{ role: 'user', content: 'hi' }], ...req };
  return new MockActivityEnvironment({ attempt: 1 }).run(a.callModel, full);
};

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected the call to fail');
}

test('text with a system instruction, usage with cached tokens, and cost; the key goes in x-goog-api-key', async () => {
  server.on('capital', { text: 'Paris.', usage: { input: 1000, output: 100, cached: 400 } });

  const res = await call({
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is the capital of France?' },
    ],
  });

  expect(res).toMatchObject({
    text: 'Paris.',
    finishReason: 'stop',
    provider: 'gemini',
    model: 'gemini-test',
    usage: { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 400 },
  });
  // 600 uncached at $0.30/M, 400 cached at $0.03/M, 100 output at $2.50/M.
  expect(res.costUsd).toBeCloseTo((600 * 0.3 + 400 * 0.03 + 100 * 2.5) / 1e6, 10);
  const req = server.requests[0]!;
  expect(req).toMatchObject({ api: 'gemini', model: 'gemini-test', stream: true, system: 'Be brief.' });
  expect(req.body.contents).toEqual([{ role: 'user', parts: [{ text: 'What is the capital of France?' }] }]);
  expect(req.headers['x-goog-api-key']).toBe('gm-test-key');
  // Without max_tokens in the profile no output limit is sent (Gemini's own applies).
  expect(req.body.generationConfig?.maxOutputTokens).toBeUndefined();
});

test('built-in Gemini profiles: gemini-flash and gemini-pro with list prices', () => {
  expect(BUILTIN_PROFILES['gemini-flash']).toEqual({
    name: 'gemini-flash',
    provider: 'gemini',
    model: 'gemini-2.5-flash',
    pricing: { inputPerMTok: 0.3, outputPerMTok: 2.5, cachedInputPerMTok: 0.03 },
  });
  expect(BUILTIN_PROFILES['gemini-pro']).toMatchObject({
    model: 'gemini-2.5-pro',
    pricing: { inputPerMTok: 1.25, outputPerMTok: 10, cachedInputPerMTok: 0.125 },
  });
});

test('temperature and max tokens go into the generation config', async () => {
  await call({ profile: { ...profile, temperature: 0.2, maxTokens: 64 } });
  expect(server.requests[0]!.body.generationConfig).toMatchObject({ temperature: 0.2, maxOutputTokens: 64 });
});

test('tools are function declarations; function calls come back as tool calls and results go back as function responses', async () => {
  server.on('weather', {
    toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }],
  });
  const tools = [
    {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  ];

  const first = await call({ messages: [{ role: 'user', content: 'weather in Oslo?' }], tools });

  expect(first.finishReason).toBe('tool_calls');
  expect(first.toolCalls).toEqual([{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }]);
  expect(server.requests[0]!.tools).toEqual(['get_weather']);
  expect(server.requests[0]!.body.tools[0].functionDeclarations[0].parametersJsonSchema).toEqual(
    tools[0]!.parameters,
  );

  server.on('rainy', { text: 'It rains in Oslo.' });
  const second = await call({
    messages: [
      { role: 'user', content: 'weather in Oslo?' },
      { role: 'assistant', content: '', toolCalls: first.toolCalls },
      { role: 'tool', toolCallId: 'c1', name: 'get_weather', content: 'rainy' },
    ],
    tools,
  });

  expect(second.text).toBe('It rains in Oslo.');
  const sent = server.requests[1]!;
  expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
  expect(sent.body.contents[2]).toEqual({
    role: 'user',
    parts: [{ functionResponse: { id: 'c1', name: 'get_weather', response: { output: 'rainy' } } }],
  });
});

test('a thought signature Gemini gave a function call goes back with it, and results of parallel calls share one turn', () => {
  const { system, contents } = toGeminiContents([
    { role: 'system', content: 'S' },
    { role: 'user', content: 'go' },
    {
      role: 'assistant',
      content: '',
      toolCalls: [
        { id: 'a', name: 'x', arguments: {}, signature: 'sig-1' },
        { id: 'b', name: 'y', arguments: { n: 1 } },
      ],
    },
    { role: 'tool', toolCallId: 'a', name: 'x', content: '1' },
    { role: 'tool', toolCallId: 'b', name: 'y', content: '2' },
  ]);
  expect(system).toBe('S');
  expect(contents).toEqual([
    { role: 'user', parts: [{ text: 'go' }] },
    {
      role: 'model',
      parts: [
        { functionCall: { id: 'a', name: 'x', args: {} }, thoughtSignature: 'sig-1' },
        { functionCall: { id: 'b', name: 'y', args: { n: 1 } } },
      ],
    },
    {
      role: 'user',
      parts: [
        { functionResponse: { id: 'a', name: 'x', response: { output: '1' } } },
        { functionResponse: { id: 'b', name: 'y', response: { output: '2' } } },
      ],
    },
  ]);
});

test('structured output is asked for with responseJsonSchema and the reply is checked against it', async () => {
  const schema = {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  };
  server.on('json', { text: '{"city":"Oslo"}' });

  const res = await call({
    messages: [{ role: 'user', content: 'json please' }],
    responseFormat: { name: 'out', schema },
  });

  expect(res.structured).toMatchObject({ valid: true });
  expect(JSON.parse(res.text)).toEqual({ city: 'Oslo' });
  expect(server.requests[0]!.body.generationConfig).toMatchObject({
    responseMimeType: 'application/json',
    responseJsonSchema: schema,
  });
});

describe('errors, classified like the other providers, each after exactly one request (SDK retries off)', () => {
  const RETRY_INFO = { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '2s' };
  const perMinute = {
    '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
    violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }],
  };
  const perDay = {
    '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
    violations: [{ quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier' }],
  };
  const quotaWords = 'You exceeded your current quota, please check your plan and billing details.';

  test('429 RESOURCE_EXHAUSTED per minute is retryable after RetryInfo retryDelay', async () => {
    server.setDefault({ status: 429, message: quotaWords, errorDetails: [perMinute, RETRY_INFO] });
    const f = await failureOf(call({}));
    expect(f.type).toBe('ModelRateLimited');
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(2000);
    expect(f.message).toContain(
      'gemini is rate limiting this key (HTTP 429): You exceeded your current quota',
    );
    expect(server.count()).toBe(1);
  });

  test('a Retry-After header wins over RetryInfo', async () => {
    server.setDefault({ status: 429, headers: { 'retry-after': '1' }, errorDetails: [RETRY_INFO] });
    const f = await failureOf(call({}));
    expect(f.type).toBe('ModelRateLimited');
    expect(f.nextRetryDelay).toBe(1000);
  });

  test('429 for a spent per-day quota is non-retryable, in plain words', async () => {
    server.setDefault({ status: 429, message: quotaWords, errorDetails: [perDay, RETRY_INFO] });
    const f = await failureOf(call({}));
    expect(f.type).toBe('ModelQuotaError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/out of quota .*Add credit or raise the limit/);
  });

  test('401, 403 and a 400 API_KEY_INVALID are auth errors; other 400 INVALID_ARGUMENT a bad request', async () => {
    server.setDefault({ status: 401 });
    expect(await failureOf(call({}))).toMatchObject({ type: 'ModelAuthError', nonRetryable: true });
    server.setDefault({ status: 403, message: 'Permission denied.' });
    expect(await failureOf(call({}))).toMatchObject({ type: 'ModelAuthError', nonRetryable: true });
    server.setDefault({
      status: 400,
      message: 'API key not valid. Please pass a valid API key.',
      errorDetails: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
    });
    const bad = await failureOf(call({}));
    expect(bad).toMatchObject({ type: 'ModelAuthError', nonRetryable: true });
    expect(bad.message).toMatch(/rejected the API key \(HTTP 400\): API key not valid.*Check the key/);
    server.setDefault({ status: 400, message: 'Invalid JSON payload received.' });
    const f = await failureOf(call({}));
    expect(f).toMatchObject({ type: 'ModelBadRequest', nonRetryable: true });
    expect(f.message).toContain('gemini refused the request (HTTP 400): Invalid JSON payload received.');
    expect(server.count()).toBe(4);
  });

  test('503 UNAVAILABLE and 500 are retryable server errors', async () => {
    server.setDefault({ status: 503, message: 'The model is overloaded.' });
    expect(await failureOf(call({}))).toMatchObject({ type: 'ModelServerError', nonRetryable: false });
    server.setDefault({ status: 500 });
    expect(await failureOf(call({}))).toMatchObject({ type: 'ModelServerError', nonRetryable: false });
    expect(server.count()).toBe(2);
  });

  test('a cut connection is a retryable transient error', async () => {
    server.setDefault({ cut: true });
    expect(await failureOf(call({}))).toMatchObject({ type: 'ModelTransientError', nonRetryable: false });
  });

  test('a redirect is not followed (it would carry the key elsewhere)', async () => {
    server.setDefault({ status: 302, headers: { location: 'http://127.0.0.2:1/steal' }, body: '' });
    expect(await failureOf(call({}))).toMatchObject({ type: 'ModelBadRequest', nonRetryable: true });
    expect(server.count()).toBe(1);
  });
});

describe('keys and endpoints', () => {
  test("the policy allows Gemini's own host and GOOGLE_GEMINI_BASE_URL with GEMINI_API_KEY or GOOGLE_API_KEY only", () => {
    const policy = EndpointPolicy.fromEnv({ GOOGLE_GEMINI_BASE_URL: 'http://gemini.internal:8080' });
    for (const key of ['GEMINI_API_KEY', 'GOOGLE_API_KEY']) {
      expect(policy.allows('https://generativelanguage.googleapis.com', key)).toBe(true);
      expect(policy.allows('http://gemini.internal:8080', key)).toBe(true);
    }
    expect(policy.allows('https://generativelanguage.googleapis.com', 'OPENAI_API_KEY')).toBe(false);
    expect(policy.allows('http://gemini.internal:8080', 'ANTHROPIC_API_KEY')).toBe(false);
    expect(EndpointPolicy.fromEnv({}).allows('http://gemini.internal:8080', 'GEMINI_API_KEY')).toBe(false);
  });

  test('GOOGLE_API_KEY is used when set (as Google’s SDK does), GEMINI_API_KEY otherwise', async () => {
    const both = createModelActivities({
      env: {
        GEMINI_API_KEY: 'gm-key',
        GOOGLE_API_KEY: 'goog-key',
        GOOGLE_GEMINI_BASE_URL: server.geminiBaseURL,
      },
    });
    await call({}, both);
    expect(server.requests[0]!.headers['x-goog-api-key']).toBe('goog-key');
  });

  test('without a key the call fails with ModelConfigError naming the variable, before any request', async () => {
    const none = createModelActivities({ env: { GOOGLE_GEMINI_BASE_URL: server.geminiBaseURL } });
    const f = await failureOf(call({}, none));
    expect(f).toMatchObject({ type: 'ModelConfigError', nonRetryable: true });
    expect(f.message).toContain('GEMINI_API_KEY is not set');
    expect(server.count()).toBe(0);
  });

  test('a base_url the worker does not allow is refused before the key is sent', async () => {
    const f = await failureOf(call({ profile: { ...profile, baseURL: 'http://127.0.0.1:9/elsewhere' } }));
    expect(f).toMatchObject({ type: 'EndpointNotAllowed', nonRetryable: true });
    expect(f.message).toContain('would send GEMINI_API_KEY to http://127.0.0.1:9/elsewhere');
    expect(f.message).not.toContain('gm-test-key');
  });

  test("the SDK's own environment (GOOGLE_GEMINI_BASE_URL in process.env) never moves a call", async () => {
    const before = process.env.GOOGLE_GEMINI_BASE_URL;
    process.env.GOOGLE_GEMINI_BASE_URL = 'http://127.0.0.1:9';
    try {
      await call({});
      expect(server.count()).toBe(1);
    } finally {
      if (before === undefined) delete process.env.GOOGLE_GEMINI_BASE_URL;
      else process.env.GOOGLE_GEMINI_BASE_URL = before;
    }
  });
});

test('the fake streams :streamGenerateContent?alt=sse to the real SDK', async () => {
  server.on('stream', { text: 'one two three', usage: { input: 5, output: 3 } });
  const client = new GoogleGenAI({
    apiKey: 'k',
    vertexai: false,
    // Node's own fetch: the SDK's default dispatcher needs undici's global one, absent under jest.
    httpOptions: { baseUrl: server.geminiBaseURL, fetch: (url, init) => fetch(url, init) },
  });
  let text = '';
  let usage: unknown;
  for await (const chunk of await client.models.generateContentStream({
    model: 'gemini-test',
    contents: 'stream please',
  })) {
    text += chunk.text ?? '';
    usage = chunk.usageMetadata ?? usage;
  }
  expect(text).toBe('one two three');
  expect(usage).toMatchObject({ promptTokenCount: 5, candidatesTokenCount: 3 });
  expect(server.requests[0]).toMatchObject({ api: 'gemini', stream: true, lastUserText: 'stream please' });
});

describe('streamed: Gemini calls use streamGenerateContent (alt=sse)', () => {
  const bus = new MemoryEventBus();
  const streaming = () =>
    createModelActivities({
      env: { GEMINI_API_KEY: 'gm-test-key', GOOGLE_GEMINI_BASE_URL: server.geminiBaseURL },
      events: bus,
    });
  let runs = 0;
  /** One activity call under its own run id; its events as the bus holds them. */
  async function streamed(req: Partial<ModelRequest>, attempt = 1) {
    const runId = `gem-${++runs}`;
    const full: ModelRequest = { profile, messages: [{ role: 'user', content: 'hi' }], step: 'say', ...req };
    const env = new MockActivityEnvironment({
      attempt,
      workflowExecution: { workflowId: runId, runId: 'r' },
    });
    const result = env.run(streaming().callModel, full) as Promise<ModelResponse>;
    const settled = await result.then(
      (res) => ({ res, err: undefined }),
      (err: unknown) => ({ res: undefined, err }),
    );
    // Events of a failed attempt go out on the next turns of the event loop, unflushed.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    return { ...settled, events: await bus.read(runId, undefined, { blockMs: 0 }) };
  }

  test('text and function calls reach watchers as deltas; the recorded result is put together from them', async () => {
    server.on('tell', {
      text: 'Oslo is rainy and cold today, bring a coat.',
      toolCalls: [{ id: 'c7', name: 'get_weather', arguments: { city: 'Oslo', days: 2 } }],
      usage: { input: 40, output: 12, cached: 8 },
    });
    const { res, events } = await streamed({ messages: [{ role: 'user', content: 'tell me' }] });

    expect(server.requests[0]).toMatchObject({ api: 'gemini', stream: true });
    const deltas = events.filter((e) => e.type === 'text.delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((e) => e.text).join('')).toBe(res!.text);
    expect(events.filter((e) => e.type === 'tool_call.delta')).toEqual([
      expect.objectContaining({
        index: 0,
        toolCallId: 'c7',
        name: 'get_weather',
        arguments: '{"city":"Oslo","days":2}',
      }),
    ]);
    expect(events[0]).toMatchObject({ type: 'step.started', step: 'say', attempt: 1 });
    expect(events.at(-1)).toMatchObject({
      type: 'step.completed',
      usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 8 },
      finishReason: 'tool_calls',
    });
    expect(res).toMatchObject({
      text: 'Oslo is rainy and cold today, bring a coat.',
      toolCalls: [{ id: 'c7', name: 'get_weather', arguments: { city: 'Oslo', days: 2 } }],
      finishReason: 'tool_calls',
      usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 8 },
    });
  });

  test('the streamed reply equals the non-streamed one for the same answer: text, tool calls, finish reason, usage, model', async () => {
    const replies = [
      {
        text: 'Plain words, several of them, to cut into chunks.',
        usage: { input: 30, output: 9, cached: 3 },
      },
      {
        toolCalls: [
          { id: 'a', name: 'lookup', arguments: { q: 'x' } },
          { id: 'b', name: 'other', arguments: {} },
        ],
      },
      { text: 'cut short by the limit', finishReason: 'length' as const },
    ];
    const plainClient = new GoogleGenAI({
      apiKey: 'k',
      vertexai: false,
      httpOptions: { baseUrl: server.geminiBaseURL, fetch: (url, init) => fetch(url, init) },
    });
    for (const reply of replies) {
      server.reset();
      server.setDefault(reply);
      const { res } = await streamed({});
      const plain = replyOf(
        await plainClient.models.generateContent({ model: 'gemini-test', contents: 'hi' }),
        'gemini-test',
      );
      expect(server.requests.map((r) => r.stream)).toEqual([true, false]);
      const { text, toolCalls, finishReason, usage, model } = res!;
      expect({ text, toolCalls, finishReason, usage, model }).toEqual(plain);
    }
  });

  test('a stream cut mid-way is a retryable transient error; the next attempt announces itself as step.retrying', async () => {
    server.setDefault({
      text: 'one two three four five six seven eight',
      cutAfterEvents: 3,
      eventDelayMs: 5,
    });
    const cut = await streamed({});
    expect(cut.err).toBeInstanceOf(ApplicationFailure);
    expect(cut.err).toMatchObject({ type: 'ModelTransientError', nonRetryable: false });
    const partial = cut.events
      .filter((e) => e.type === 'text.delta')
      .map((e) => e.text)
      .join('');
    expect(partial.length).toBeGreaterThan(0);
    expect('one two three four five six seven eight'.startsWith(partial)).toBe(true);
    expect(partial).not.toBe('one two three four five six seven eight');
    // A retryable failure emits nothing by itself.
    expect(cut.events.map((e) => e.type)).not.toContain('step.failed');

    server.setDefault({ text: 'one two three four five six seven eight' });
    const again = await streamed({}, 2);
    expect(again.events[0]).toMatchObject({ type: 'step.retrying', attempt: 2 });
    expect(again.res!.text).toBe('one two three four five six seven eight');
  });

  test('a stream that ends cleanly before its last chunk (no finish reason) is treated as cut, not recorded', async () => {
    const chunk = {
      candidates: [{ content: { role: 'model', parts: [{ text: 'half an ans' }] }, index: 0 }],
    };
    server.setDefault({
      body: `data: ${JSON.stringify(chunk)}\r\n\r\n`,
      headers: { 'content-type': 'text/event-stream' },
    });
    const { err } = await streamed({});
    expect(err).toMatchObject({ type: 'ModelTransientError', nonRetryable: false });
  });

  test('an error event inside the stream is classified by its body: 429 with RetryInfo waits as told', async () => {
    const error = {
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: 'Slow down.',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '3s' }],
      },
    };
    server.setDefault({
      body: `data: ${JSON.stringify(error)}\r\n\r\n`,
      headers: { 'content-type': 'text/event-stream' },
    });
    const { err, events } = await streamed({});
    expect(err).toMatchObject({ type: 'ModelRateLimited', nonRetryable: false, nextRetryDelay: 3000 });
    expect(events.map((e) => e.type)).toEqual(['step.started']);
  });

  test('a server that ignores streaming and answers plain JSON fails at once, in plain words', async () => {
    const whole = {
      candidates: [{ content: { role: 'model', parts: [{ text: 'not streamed' }] }, finishReason: 'STOP' }],
    };
    server.setDefault({ body: JSON.stringify(whole, null, 2) });
    const { err, events } = await streamed({});
    expect(err).toMatchObject({ type: 'ModelConfigError', nonRetryable: true });
    expect((err as Error).message).toContain(
      'answered streamGenerateContent with application/json instead of a stream of Server-Sent Events',
    );
    expect((err as Error).message).toContain(server.geminiBaseURL);
    expect(events.at(-1)).toMatchObject({ type: 'step.failed', error: { type: 'ModelConfigError' } });
    expect(server.count()).toBe(1);

    // An event stream with no chunks at all is refused the same way, not recorded as an empty reply.
    server.setDefault({ body: '', headers: { 'content-type': 'text/event-stream' } });
    const empty = await streamed({});
    expect(empty.err).toMatchObject({ type: 'ModelConfigError', nonRetryable: true });
    expect((empty.err as Error).message).toContain('answered streamGenerateContent with no stream chunks');
  });
});
