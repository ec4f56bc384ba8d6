/**
 * The fake model server, driven by the real OpenAI and Anthropic SDKs: if these pass, the SDKs
 * accept its replies, streams and errors as they accept the real services'.
 */
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { FakeModelServer } from '../support/fake-model-server';

let server: FakeModelServer;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  server = await FakeModelServer.start();
  openai = new OpenAI({ apiKey: 'test-key', baseURL: server.openaiBaseURL, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test-key', baseURL: server.anthropicBaseURL, maxRetries: 0 });
});
afterAll(() => server.close());
beforeEach(() => server.reset());

/** A one-message OpenAI call. */
const ask = (content: string, opts?: { signal?: AbortSignal }) =>
  openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content }] }, opts);

/** A one-message Anthropic call. */
const askClaude = (content: string) =>
  anthropic.messages.create({ model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content }] });

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

/** Polls until `check` holds, failing after `timeoutMs`. */
async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('OpenAI Chat Completions', () => {
  it('answers plain text with usage, and records the request', async () => {
    server.on('capital', { text: 'Paris.', usage: { input: 120, output: 7, cached: 100 } });

    const res = await openai.chat.completions.create({
      model: 'gpt-test',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What is the capital of France?' },
      ],
    });

    expect(res.choices[0].message.content).toBe('Paris.');
    expect(res.choices[0].finish_reason).toBe('stop');
    expect(res.model).toBe('gpt-test');
    expect(res.usage).toMatchObject({
      prompt_tokens: 120,
      completion_tokens: 7,
      total_tokens: 127,
      prompt_tokens_details: { cached_tokens: 100 },
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({
      api: 'openai',
      model: 'gpt-test',
      stream: false,
      system: 'Be brief.',
      lastUserText: 'What is the capital of France?',
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    });
  });

  it('echoes the last user message by default, with rough token counts', async () => {
    const res = await ask('hello there');
    expect(res.choices[0].message.content).toBe('echo: hello there');
    expect(res.usage!.prompt_tokens).toBeGreaterThanOrEqual(1);
    expect(res.usage!.completion_tokens).toBeGreaterThanOrEqual(1);
  });

  it('round-trips a tool call', async () => {
    server.on('weather', {
      toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }],
    });
    server.on(
      (req) => req.messages.some((m) => m.role === 'tool'),
      (req) => ({ text: `Tool said ${req.messages.at(-1)!.content}` }),
    );
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What is the weather in Paris?' },
    ];

    const first = await openai.chat.completions.create({ model: 'gpt-test', messages, tools });
    const call = first.choices[0].message.tool_calls![0];
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    expect(first.choices[0].message.content).toBeNull();
    expect(call.type === 'function' && call.function.name).toBe('get_weather');
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });

    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' });
    const second = await openai.chat.completions.create({ model: 'gpt-test', messages, tools });
    expect(second.choices[0].message.content).toBe('Tool said {"temp":21}');
    expect(server.requests[1].tools).toEqual(['get_weather']);
    expect(server.requests[1].messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(server.requests[1].body.messages[1].tool_calls[0].id).toBe('call_1');
  });

  it('streams text as SSE chunks, with usage when asked for', async () => {
    server.on('story', { text: 'Once upon a time, the end.', usage: { input: 10, output: 6, cached: 4 } });

    const stream = await openai.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Tell a story' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Once upon a time, the end.');
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['stop']);
    expect(chunks.at(-1)!.usage).toMatchObject({
      prompt_tokens: 10,
      completion_tokens: 6,
      prompt_tokens_details: { cached_tokens: 4 },
    });
    expect(server.requests[0].stream).toBe(true);
  });

  it('streams tool calls that the SDK stream helper assembles', async () => {
    server.on('search', {
      text: 'Looking.',
      toolCalls: [{ name: 'search', arguments: { q: 'temporal', limit: 3 } }],
    });

    const final = await openai.chat.completions
      .stream({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'search it' }],
        tools: [{ type: 'function', function: { name: 'search' } }],
      })
      .finalChatCompletion();

    const call = final.choices[0].message.tool_calls![0];
    expect(final.choices[0].finish_reason).toBe('tool_calls');
    expect(final.choices[0].message.content).toBe('Looking.');
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({
      q: 'temporal',
      limit: 3,
    });
    expect(call.id).toMatch(/^call_/);
  });

  it('answers a json_schema response_format request with the scripted JSON', async () => {
    server.on((req) => req.body.response_format?.type === 'json_schema', { text: '{"category":"bug"}' });

    const res = await openai.chat.completions.parse({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Classify: it crashes' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'triage',
          strict: true,
          schema: { type: 'object', properties: { category: { type: 'string' } } },
        },
      },
    });
    expect(res.choices[0].message.parsed).toEqual({ category: 'bug' });
  });

  it('reports length as finish_reason', async () => {
    server.on('long', { text: 'cut sho', finishReason: 'length' });
    expect((await ask('a long essay')).choices[0].finish_reason).toBe('length');
  });

  it('lists models in each SDK shape', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toContain('fake-model');
    const claudes = await anthropic.models.list();
    expect(claudes.data.map((m) => m.id)).toContain('fake-model');
  });
});

describe('Anthropic Messages', () => {
  it('answers text with usage; system blocks and messages are recorded', async () => {
    server.on('capital', { text: 'Paris.', usage: { input: 120, output: 7, cached: 100 } });

    const res = await anthropic.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the capital of France?' }] }],
    });

    expect(res.content).toEqual([expect.objectContaining({ type: 'text', text: 'Paris.' })]);
    expect(res.stop_reason).toBe('end_turn');
    expect(res.model).toBe('claude-test');
    // Anthropic counts cached tokens apart from input_tokens.
    expect(res.usage).toMatchObject({ input_tokens: 20, output_tokens: 7, cache_read_input_tokens: 100 });
    expect(server.requests[0]).toMatchObject({
      api: 'anthropic',
      system: 'Be brief.',
      lastUserText: 'What is the capital of France?',
      allText: 'Be brief.\nWhat is the capital of France?',
    });
  });

  it('round-trips tool_use and tool_result', async () => {
    server.on('Weather', { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    server.on((req) => req.messages.some((m) => m.role === 'tool'), { text: 'Sunny.' });
    const tools: Anthropic.Tool[] = [
      { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
    ];

    const first = await anthropic.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      tools,
      tool_choice: { type: 'auto' },
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
    expect(first.stop_reason).toBe('tool_use');
    expect(use.name).toBe('get_weather');
    expect(use.input).toEqual({ city: 'Paris' });
    expect(use.id).toMatch(/^toolu_/);

    const second = await anthropic.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"temp":21}' }] },
      ],
    });
    expect(second.content).toEqual([expect.objectContaining({ type: 'text', text: 'Sunny.' })]);
    expect(server.requests[1].messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: '' },
      { role: 'tool', content: '{"temp":21}' },
    ]);
    expect(server.requests[1].lastUserText).toBe('Weather in Paris?');
    expect(server.requests[1].tools).toEqual(['get_weather']);
  });

  it('turns scripted JSON text into the input of a forced tool', async () => {
    server.on('Classify', { text: '{"category":"bug"}' });

    const res = await anthropic.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      tools: [{ name: 'triage', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'triage' },
      messages: [{ role: 'user', content: 'Classify: it crashes' }],
    });
    expect(res.stop_reason).toBe('tool_use');
    expect(res.content).toEqual([
      expect.objectContaining({ type: 'tool_use', name: 'triage', input: { category: 'bug' } }),
    ]);
  });

  it('streams the Anthropic event sequence', async () => {
    server.on('story', { text: 'Once upon a time.', usage: { input: 10, output: 5 } });

    const stream = await anthropic.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      stream: true,
      messages: [{ role: 'user', content: 'Tell a story' }],
    });
    const events: Anthropic.RawMessageStreamEvent[] = [];
    for await (const event of stream) events.push(event);

    const types = [...new Set(events.map((e) => e.type))];
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const text = events
      .map((e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : ''))
      .join('');
    expect(text).toBe('Once upon a time.');
    const delta = events.find((e): e is Anthropic.RawMessageDeltaEvent => e.type === 'message_delta')!;
    expect(delta.delta.stop_reason).toBe('end_turn');
    expect(delta.usage.output_tokens).toBe(5);
  });

  it('streams text and tool_use that the SDK stream helper assembles', async () => {
    server.on('search', {
      text: 'Looking.',
      toolCalls: [{ id: 'toolu_x', name: 'search', arguments: { q: 'temporal' } }],
      usage: { input: 9, output: 4 },
    });

    const final = await anthropic.messages
      .stream({
        model: 'claude-test',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'search it' }],
        tools: [{ name: 'search', input_schema: { type: 'object' } }],
      })
      .finalMessage();

    expect(final.stop_reason).toBe('tool_use');
    expect(final.content).toEqual([
      expect.objectContaining({ type: 'text', text: 'Looking.' }),
      expect.objectContaining({ type: 'tool_use', id: 'toolu_x', name: 'search', input: { q: 'temporal' } }),
    ]);
    expect(final.usage).toMatchObject({ input_tokens: 9, output_tokens: 4 });
  });

  it('reports max_tokens', async () => {
    server.on('long', { text: 'cut sho', finishReason: 'length' });
    expect((await askClaude('a long essay')).stop_reason).toBe('max_tokens');
  });
});

describe('faults', () => {
  it('429 with retry-after gives RateLimitError with the header readable (both SDKs)', async () => {
    server.on('busy', { status: 429, headers: { 'Retry-After': '1', 'retry-after-ms': '200' } });

    const oa = await rejection(ask('busy?'));
    expect(oa).toBeInstanceOf(OpenAI.RateLimitError);
    expect(oa.status).toBe(429);
    expect(oa.headers.get('retry-after')).toBe('1');
    expect(oa.headers.get('retry-after-ms')).toBe('200');
    expect(oa.code).toBe('rate_limit_exceeded');

    const an = await rejection(askClaude('busy?'));
    expect(an).toBeInstanceOf(Anthropic.RateLimitError);
    expect(an.headers.get('retry-after')).toBe('1');
    expect(an.type).toBe('rate_limit_error');
    expect(an.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });

  it('401 gives AuthenticationError (both SDKs)', async () => {
    server.on('secret', { status: 401, message: 'bad key' });

    const oa = await rejection(ask('secret'));
    expect(oa).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(oa.message).toContain('bad key');

    const an = await rejection(askClaude('secret'));
    expect(an).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(an.type).toBe('authentication_error');
    expect(an.apiMessage).toBe('bad key');
  });

  it('OpenAI 429 insufficient_quota is visible on the error', async () => {
    server.on('quota', {
      status: 429,
      errorType: 'insufficient_quota',
      message: 'You exceeded your current quota.',
    });

    const err = await rejection(ask('quota'));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe('insufficient_quota');
    expect(err.type).toBe('insufficient_quota');
    expect(err.error).toEqual({
      message: 'You exceeded your current quota.',
      type: 'insufficient_quota',
      code: 'insufficient_quota',
      param: null,
    });
  });

  it('Anthropic 529 overloaded gives status 529', async () => {
    server.on('overload', { status: 529, errorType: 'overloaded_error' });

    const err = await rejection(askClaude('overload'));
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err.status).toBe(529);
    expect(err.type).toBe('overloaded_error');
  });

  it('a raw body override is sent as is', async () => {
    server.on('raw', { status: 500, body: 'upstream exploded', headers: { 'content-type': 'text/plain' } });

    const err = await rejection(ask('raw'));
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.message).toContain('upstream exploded');
  });

  it('a cut reply makes the SDKs throw APIConnectionError, and the request still counts', async () => {
    server.on('cut', { cut: true });

    expect(await rejection(ask('cut me'))).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(await rejection(askClaude('cut me'))).toBeInstanceOf(Anthropic.APIConnectionError);
    expect(server.count('cut me')).toBe(2);
    // The server is still healthy afterwards.
    expect((await ask('fine')).choices[0].message.content).toBe('echo: fine');
  });

  it('an aborted request stops the delay and leaves nothing in flight', async () => {
    // Far longer than the test may take: if the server ignored the abort, inFlight would stay at 1.
    server.on('slow', { text: 'too late', delayMs: 60_000 });
    const controller = new AbortController();

    const call = ask('slow please', { signal: controller.signal });
    await server.waitFor('slow please');
    expect(server.inFlight).toBe(1);
    controller.abort();

    expect(await rejection(call)).toBeInstanceOf(OpenAI.APIUserAbortError);
    await eventually(() => server.inFlight === 0, 'the aborted request to leave');
  });
});

describe('scripting and counting', () => {
  it('tries newest rules first and honours times', async () => {
    server.on('hello', { text: 'old rule' });
    server.on('hello', { text: 'once' }, { times: 1 });
    server.on('other', { text: 'newest, but does not match' });

    const texts: (string | null)[] = [];
    for (let i = 0; i < 3; i++) texts.push((await ask('hello')).choices[0].message.content);
    expect(texts).toEqual(['once', 'old rule', 'old rule']);
    expect((await ask('nothing matches')).choices[0].message.content).toBe('echo: nothing matches');
  });

  it('passes the rule-local match count to reply functions', async () => {
    server.on(/flaky/, (_req, n) => (n < 2 ? { status: 503 } : { text: `ok after ${n}` }));

    expect(await rejection(ask('flaky 1'))).toBeInstanceOf(OpenAI.InternalServerError);
    expect(await rejection(askClaude('flaky 2'))).toBeInstanceOf(Anthropic.InternalServerError);
    expect((await ask('flaky 3')).choices[0].message.content).toBe('ok after 2');
  });

  it('setDefault replaces the default and reset restores it', async () => {
    server.setDefault({ text: 'default!' });
    expect((await ask('x')).choices[0].message.content).toBe('default!');
    server.reset();
    expect((await ask('x')).choices[0].message.content).toBe('echo: x');
  });

  it('counts by substring, RegExp and predicate; reset clears', async () => {
    server.on('boom', { status: 500 });
    await ask('alpha one');
    await askClaude('alpha two');
    await rejection(ask('beta boom'));

    expect(server.count()).toBe(3);
    expect(server.count('alpha')).toBe(2);
    expect(server.count(/ALPHA|boom/i)).toBe(3);
    expect(server.count(/two$/g)).toBe(1);
    expect(server.count(/two$/g)).toBe(1); // a global RegExp's lastIndex does not leak between calls
    expect(server.count((r) => r.api === 'anthropic')).toBe(1);
    expect(server.count('gamma')).toBe(0);

    server.reset();
    expect(server.count()).toBe(0);
    expect(server.requests).toEqual([]);
  });

  it('waitFor resolves while a call is in flight, and rejects clearly on timeout', async () => {
    server.on('hold', { text: 'released', delayMs: 300 });

    const call = ask('hold on');
    await server.waitFor(/hold/);
    expect(server.inFlight).toBe(1);
    expect(server.count('hold')).toBe(1);
    expect((await call).choices[0].message.content).toBe('released');
    await server.waitFor('hold'); // already satisfied: resolves at once

    await expect(server.waitFor('never sent', 2, 50)).rejects.toThrow(
      /timed out after 50ms waiting for 2 request\(s\) matching "never sent"/,
    );
  });

  it('serves hundreds of concurrent delayed calls', async () => {
    server.on('fan', (req) => ({ text: `done ${req.lastUserText}`, delayMs: 200 }));

    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => ask(`fan ${i}`)));

    expect(results.map((r) => r.choices[0].message.content)).toEqual(
      Array.from({ length: 300 }, (_, i) => `done fan ${i}`),
    );
    expect(server.count('fan')).toBe(300);
    await eventually(() => server.inFlight === 0, 'all calls to finish');
  });
});
