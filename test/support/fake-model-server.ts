/**
 * A wire-level fake of the OpenAI Chat Completions, Anthropic Messages and Gemini
 * generateContent APIs for tests.
 *
 * Tests point the real `openai`, `@anthropic-ai/sdk` and `@google/genai` clients at it through
 * their base URL, so the
 * SDKs' own request building, SSE parsing, error classes and retry logic run exactly as they do
 * against the real services. Replies are scripted with `on()`; every request is recorded.
 *
 *   const server = await FakeModelServer.start();
 *   const openai = new OpenAI({ apiKey: 'test', baseURL: server.openaiBaseURL, maxRetries: 0 });
 *   server.on('summarise', { text: 'A summary.' });
 *   server.on(/weather/, { status: 429, headers: { 'retry-after': '1' } }, { times: 1 });
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

/** What the fake answers to one request. */
export interface FakeReply {
  /** Assistant text. */
  text?: string;
  toolCalls?: { id?: string; name: string; arguments: Record<string, unknown> }[];
  /** Default: `tool_calls` when there are tool calls, else `stop`. */
  finishReason?: 'stop' | 'length' | 'tool_calls';
  /**
   * Token counts; default: rough counts from text length (chars/4, at least 1). `input` is the
   * whole prompt and `cached` the part of it served from cache. OpenAI reports them as they are
   * (`prompt_tokens` includes `cached_tokens`); Anthropic, like the real API, reports
   * `input_tokens` WITHOUT the cached part (`input - cached`) and `cache_read_input_tokens = cached`.
   */
  usage?: { input?: number; output?: number; cached?: number };
  /** Wait before answering; stops waiting if the client goes away (abort, timeout). */
  delayMs?: number;
  /** Fault: answer with this HTTP status (>= 400) and a provider-shaped error body. */
  status?: number;
  /**
   * Error type/code for the body, e.g. 'insufficient_quota', 'rate_limit_error', 'overloaded_error';
   * for Gemini the `status` word (default from the HTTP status: RESOURCE_EXHAUSTED, UNAVAILABLE, ...).
   */
  errorType?: string;
  /** Gemini only: the error body's `details` (RetryInfo, QuotaFailure, ErrorInfo objects). */
  errorDetails?: object[];
  /** Error message for the body. */
  message?: string;
  /** Extra response headers, e.g. `{ 'retry-after': '1' }` or `{ 'retry-after-ms': '200' }`. */
  headers?: Record<string, string>;
  /** Raw response body, sent as is (status defaults to 200, content type to JSON unless `headers` say otherwise). */
  body?: string;
  /** Destroy the socket without answering (after `delayMs`). */
  cut?: boolean;
  /** A streamed reply: send this many events (role, text and tool-call chunks), then destroy the socket mid-stream. */
  cutAfterEvents?: number;
  /** A streamed reply: wait this long between events (stops if the client goes away). */
  eventDelayMs?: number;
}

/**
 * One request as the fake understood it; the same shape for both APIs. `messages` holds no
 * system messages (they are in `system`), and tool results are `role: 'tool'` for both APIs
 * (Anthropic's `tool_result` blocks are split out of their user message).
 */
export interface FakeRequest {
  api: 'openai' | 'anthropic' | 'gemini';
  model: string;
  stream: boolean;
  system: string;
  messages: { role: string; content: string }[];
  /** Text of the last `user` message. */
  lastUserText: string;
  /** System and all message contents joined with newlines: what a substring or RegExp match sees. */
  allText: string;
  /** Names of the tools offered. */
  tools: string[];
  /** The parsed JSON request body. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/** A substring of `allText`, a RegExp tested against it, or a predicate. */
export type FakeMatch = string | RegExp | ((req: FakeRequest) => boolean);

/** A fixed reply, or a function of the request and of how many times its rule matched before. */
export type FakeReplySpec = FakeReply | ((req: FakeRequest, n: number) => FakeReply | Promise<FakeReply>);

export interface FakeModelServerOptions {
  /** Reply when no rule matches (default: `echo: <last user text>`); `reset()` comes back to it. */
  defaultReply?: FakeReplySpec;
}

interface Rule {
  match: FakeMatch;
  reply: FakeReplySpec;
  times: number;
  used: number;
}

interface Waiter {
  match: FakeMatch;
  n: number;
  seen: number;
  done: () => void;
  fail: (err: Error) => void;
}

/** A reply with every default filled in. */
interface Answer {
  text: string;
  toolCalls: { id: string; name: string; arguments: Record<string, unknown> }[];
  finish: 'stop' | 'length' | 'tool_calls';
  input: number;
  output: number;
  cached: number;
}

const ROUTES: Record<string, FakeRequest['api'] | undefined> = {
  'POST /v1/chat/completions': 'openai',
  'POST /v1/messages': 'anthropic',
};

/** Gemini's REST route: the model and the method are in the path. */
const GEMINI_ROUTE = /^POST \/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

const ECHO: FakeReplySpec = (req) => ({ text: `echo: ${req.lastUserText}` });

export class FakeModelServer {
  /** Every request, in arrival order. */
  readonly requests: FakeRequest[] = [];
  /** Every `POST /v1/embeddings`, in arrival order (kept apart from chat requests). */
  readonly embeddingRequests: { model: string; input: string[]; encodingFormat?: string }[] = [];
  /** When set, `/v1/embeddings` answers with this error. */
  embeddingFault: { status: number; message?: string; errorType?: string } | undefined;
  /** Base of every address, `http://127.0.0.1:PORT`. */
  readonly url: string;

  private rules: Rule[] = [];
  private defaultReply: FakeReplySpec;
  private defaultUsed = 0;
  private active = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly initialDefault: FakeReplySpec,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.defaultReply = initialDefault;
  }

  /** Starts a server on 127.0.0.1 at a free port. */
  static async start(opts: FakeModelServerOptions = {}): Promise<FakeModelServer> {
    const server = http.createServer();
    // A slow scripted reply must never be cut by Node's own request timeout.
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A deep backlog: benchmarks open hundreds of connections at once, and a full backlog
      // turns into SYN retries of a second or more.
      server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve());
    });
    const fake = new FakeModelServer(server, opts.defaultReply ?? ECHO);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.once('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      // A bug in the fake must show up as a failed call, not as a hang.
      fake.handle(req, res).catch((err) => {
        if (res.headersSent) res.destroy();
        else
          sendJSON(
            res,
            500,
            errorBody('openai', 500, { message: `fake-model-server: ${String(err)}` }),
            'openai',
          );
      });
    });
    return fake;
  }

  /** Base URL for the OpenAI SDK (it appends `/chat/completions`). */
  get openaiBaseURL(): string {
    return `${this.url}/v1`;
  }

  /** Base URL for the Anthropic SDK (it appends `/v1/messages`). */
  get anthropicBaseURL(): string {
    return this.url;
  }

  /** Base URL for the Gemini SDK (`httpOptions.baseUrl`; it appends `/v1beta/models/...`). */
  get geminiBaseURL(): string {
    return this.url;
  }

  /** Number of requests currently being answered (arrived, response not yet finished or dropped). */
  get inFlight(): number {
    return this.active;
  }

  /** Adds a rule; newer rules are tried first, and a rule with `times` is used at most that often. */
  on(match: FakeMatch, reply: FakeReplySpec, opts: { times?: number } = {}): this {
    this.rules.unshift({ match, reply, times: opts.times ?? Infinity, used: 0 });
    return this;
  }

  /** Replaces the reply given when no rule matches. */
  setDefault(reply: FakeReplySpec): this {
    this.defaultReply = reply;
    this.defaultUsed = 0;
    return this;
  }

  /** Clears rules, counters and recorded requests, and restores the default reply given to `start`. */
  reset(): void {
    this.rules = [];
    this.requests.length = 0;
    this.embeddingRequests.length = 0;
    this.embeddingFault = undefined;
    this.defaultReply = this.initialDefault;
    this.defaultUsed = 0;
  }

  /** Number of recorded requests that match (all of them without an argument). */
  count(match?: FakeMatch): number {
    if (match === undefined) return this.requests.length;
    return this.requests.filter((r) => matches(r, match)).length;
  }

  /** Resolves once at least `n` requests matching `match` have arrived; rejects after `timeoutMs`. */
  waitFor(match: FakeMatch, n = 1, timeoutMs = 10_000): Promise<void> {
    const seen = this.count(match);
    if (seen >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const recent = this.requests.slice(-5).map((r) => JSON.stringify(r.lastUserText));
        reject(
          new Error(
            `FakeModelServer.waitFor: timed out after ${timeoutMs}ms waiting for ${n} request(s) matching ` +
              `${describeMatch(match)}; ${waiter.seen} matched out of ${this.requests.length} received` +
              (recent.length ? ` (last user texts: ${recent.join(', ')})` : ''),
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        n,
        seen,
        done: () => (clearTimeout(timer), resolve()),
        fail: (err) => (clearTimeout(timer), reject(err)),
      };
      this.waiters.add(waiter);
    });
  }

  /** Stops the server, dropping open connections so the test process can exit. */
  async close(): Promise<void> {
    for (const w of this.waiters) w.fail(new Error('FakeModelServer closed while waitFor was pending'));
    this.waiters.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // -------------------------------------------------------------------------------------------

  /**
   * OpenAI's `POST /v1/embeddings`: one deterministic vector per input (fakeEmbedding), usage as
   * chars/4. Recorded in `embeddingRequests`, not in `requests`; `embeddingFault` answers with an error.
   */
  private async embeddings(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body: any;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return sendJSON(
        res,
        400,
        errorBody('openai', 400, { message: 'fake-model-server: request body is not JSON' }),
        'openai',
      );
    }
    const input: string[] = typeof body.input === 'string' ? [body.input] : body.input;
    this.embeddingRequests.push({ model: body.model, input, encodingFormat: body.encoding_format });
    if (this.embeddingFault) {
      const f = this.embeddingFault;
      return sendJSON(res, f.status, errorBody('openai', f.status, f), 'openai');
    }
    const tokens = input.reduce((n, t) => n + Math.max(1, Math.ceil(t.length / 4)), 0);
    return sendJSON(
      res,
      200,
      {
        object: 'list',
        model: body.model,
        // Like the real API: base64 of little-endian float32s when asked (the SDK asks by default).
        data: input.map((t, index) => ({
          object: 'embedding',
          index,
          embedding:
            body.encoding_format === 'base64'
              ? Buffer.from(new Float32Array(fakeEmbedding(t)).buffer).toString('base64')
              : fakeEmbedding(t),
        })),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      },
      'openai',
    );
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Attached first, so a client that leaves while the body is still arriving is not miscounted.
    this.active++;
    res.once('close', () => this.active--);
    const route = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
    // Both SDKs list models at GET /v1/models; only Anthropic's sends `anthropic-version`.
    const sdk = req.headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai';
    if (route === 'GET /v1/models') {
      return sendJSON(res, 200, sdk === 'anthropic' ? anthropicModels() : openaiModels(), sdk);
    }
    if (route === 'POST /v1/embeddings') return this.embeddings(req, res);
    const gemini = GEMINI_ROUTE.exec(route);
    const api = gemini ? 'gemini' : ROUTES[route];
    if (!api) {
      return sendJSON(
        res,
        404,
        errorBody(sdk, 404, { message: `fake-model-server: no route for ${route}` }),
        sdk,
      );
    }

    let body: any;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return sendJSON(
        res,
        400,
        errorBody(api, 400, { message: 'fake-model-server: request body is not JSON' }),
        api,
      );
    }

    // Counted on arrival, before any delay or fault, so tests can wait for a call that will hang.
    const request =
      api === 'openai'
        ? parseOpenAI(body, req.headers)
        : api === 'anthropic'
          ? parseAnthropic(body, req.headers)
          : parseGemini(
              body,
              req.headers,
              decodeURIComponent(gemini![1]!),
              gemini![2] === 'streamGenerateContent',
            );
    this.record(request);

    let reply: FakeReply;
    try {
      reply = await this.pick(request);
    } catch (err) {
      reply = { status: 500, message: `fake-model-server: reply function threw: ${String(err)}` };
    }

    if (reply.delayMs && (await clientLeft(res, reply.delayMs))) return;
    if (reply.cut) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { ...requestIdHeader(api), ...lowerKeys(reply.headers) };
    if (reply.body !== undefined) {
      return send(res, reply.status ?? 200, { 'content-type': 'application/json', ...headers }, reply.body);
    }
    if (reply.status !== undefined && reply.status >= 400) {
      const error = JSON.stringify(errorBody(api, reply.status, reply));
      return send(res, reply.status, { 'content-type': 'application/json', ...headers }, error);
    }

    const answer = complete(request, reply);
    const status = reply.status ?? 200;
    if (request.stream) {
      const events =
        api === 'openai'
          ? openaiStream(request, answer)
          : api === 'anthropic'
            ? anthropicStream(request, answer)
            : geminiStream(request, answer);
      const sse = {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        ...headers,
      };
      if (reply.cutAfterEvents === undefined && !reply.eventDelayMs)
        return send(res, status, sse, events.join(''));
      // Event by event: paced, and possibly cut off after some of them.
      res.writeHead(status, sse);
      for (const [i, event] of events.entries()) {
        if (reply.cutAfterEvents !== undefined && i >= reply.cutAfterEvents) {
          res.destroy();
          return;
        }
        if (reply.eventDelayMs && (await clientLeft(res, reply.eventDelayMs))) return;
        if (res.destroyed) return;
        res.write(event);
      }
      res.end();
      return;
    }
    const json =
      api === 'openai'
        ? openaiCompletion(request, answer)
        : api === 'anthropic'
          ? anthropicMessage(request, answer)
          : geminiResponse(request, answer);
    return send(res, status, { 'content-type': 'application/json', ...headers }, JSON.stringify(json));
  }

  private record(request: FakeRequest): void {
    this.requests.push(request);
    for (const w of this.waiters) {
      if (matches(request, w.match) && ++w.seen >= w.n) {
        this.waiters.delete(w);
        w.done();
      }
    }
  }

  /** Chooses the reply on arrival, so `times` holds even when many requests come at once. */
  private pick(request: FakeRequest): FakeReply | Promise<FakeReply> {
    const rule = this.rules.find((r) => r.used < r.times && matches(request, r.match));
    const spec = rule ? rule.reply : this.defaultReply;
    const n = rule ? rule.used++ : this.defaultUsed++;
    return typeof spec === 'function' ? spec(request, n) : spec;
  }
}

// ---------------------------------------------------------------------------------------------
// Matching and request parsing
// ---------------------------------------------------------------------------------------------

function matches(req: FakeRequest, match: FakeMatch): boolean {
  if (typeof match === 'string') return req.allText.includes(match);
  // `search` ignores `lastIndex`, so a /g RegExp gives the same answer every time.
  if (match instanceof RegExp) return req.allText.search(match) !== -1;
  return match(req);
}

function describeMatch(match: FakeMatch): string {
  if (typeof match === 'string') return JSON.stringify(match);
  if (match instanceof RegExp) return String(match);
  return `predicate ${match.name || '(anonymous)'}`;
}

/** Text of OpenAI content (string or parts) or Anthropic content (string or blocks). */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: any) => (part?.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function finishRequest(
  api: FakeRequest['api'],
  body: any,
  headers: FakeRequest['headers'],
  system: string[],
  messages: FakeRequest['messages'],
  tools: string[],
): FakeRequest {
  const systemText = system.filter(Boolean).join('\n');
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  return {
    api,
    model: typeof body?.model === 'string' ? body.model : '',
    stream: body?.stream === true,
    system: systemText,
    messages,
    lastUserText: lastUser?.content ?? '',
    allText: [systemText, ...messages.map((m) => m.content)].filter(Boolean).join('\n'),
    tools,
    body,
    headers,
  };
}

function parseOpenAI(body: any, headers: FakeRequest['headers']): FakeRequest {
  const system: string[] = [];
  const messages: FakeRequest['messages'] = [];
  for (const m of asArray(body?.messages)) {
    if (m?.role === 'system' || m?.role === 'developer') system.push(textOf(m.content));
    else messages.push({ role: String(m?.role), content: textOf(m?.content) });
  }
  const tools = asArray(body?.tools).map((t: any) => t?.function?.name ?? t?.custom?.name ?? t?.name ?? '');
  return finishRequest('openai', body, headers, system, messages, tools);
}

function parseAnthropic(body: any, headers: FakeRequest['headers']): FakeRequest {
  const system = [textOf(body?.system)];
  const messages: FakeRequest['messages'] = [];
  for (const m of asArray(body?.messages)) {
    if (m?.role === 'system') {
      system.push(textOf(m.content));
      continue;
    }
    const blocks = typeof m?.content === 'string' ? [{ type: 'text', text: m.content }] : asArray(m?.content);
    const results = blocks.filter((b: any) => b?.type === 'tool_result');
    for (const r of results) messages.push({ role: 'tool', content: textOf(r.content) });
    const text = textOf(blocks);
    // A user turn that only carries tool results is not a user message in OpenAI's terms.
    if (text || results.length === 0) messages.push({ role: String(m?.role), content: text });
  }
  const tools = asArray(body?.tools).map((t: any) => String(t?.name ?? ''));
  return finishRequest('anthropic', body, headers, system, messages, tools);
}

function parseGemini(
  body: any,
  headers: FakeRequest['headers'],
  model: string,
  stream: boolean,
): FakeRequest {
  const system = [textOf(asArray(body?.systemInstruction?.parts).map((p: any) => ({ type: 'text', ...p })))];
  const messages: FakeRequest['messages'] = [];
  for (const c of asArray(body?.contents)) {
    const parts = asArray(c?.parts);
    for (const p of parts.filter((x: any) => x?.functionResponse)) {
      const r = p.functionResponse.response;
      messages.push({ role: 'tool', content: typeof r?.output === 'string' ? r.output : JSON.stringify(r) });
    }
    const text = parts.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('');
    const onlyResults = parts.length > 0 && parts.every((p: any) => p?.functionResponse);
    // Gemini's turns are 'user' and 'model'; the fake speaks of 'assistant' like the others.
    if (!onlyResults) messages.push({ role: c?.role === 'model' ? 'assistant' : 'user', content: text });
  }
  const tools = asArray(body?.tools).flatMap((t: any) =>
    asArray(t?.functionDeclarations).map((f: any) => String(f?.name ?? '')),
  );
  return { ...finishRequest('gemini', { ...body, model }, headers, system, messages, tools), stream };
}

function asArray(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

const roughTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** The tool a request forces (`tool_choice` naming one tool), if any. */
function forcedTool(req: FakeRequest): string | undefined {
  const choice = req.body?.tool_choice;
  if (req.api === 'anthropic') return choice?.type === 'tool' ? choice.name : undefined;
  return choice?.type === 'function' ? choice.function?.name : undefined;
}

/** Fills in a reply's defaults. */
function complete(req: FakeRequest, reply: FakeReply): Answer {
  let text = reply.text ?? '';
  let calls = reply.toolCalls ?? [];
  // A model forced to call one tool answers with that call, never with text. Baton asks Anthropic
  // for structured output that way, so a scripted JSON text becomes the forced tool's input.
  const forced = forcedTool(req);
  if (forced && calls.length === 0) {
    const input = parseObject(text);
    if (input) {
      calls = [{ name: forced, arguments: input }];
      text = '';
    }
  }
  const prefix = req.api === 'anthropic' ? 'toolu_' : 'call_';
  const toolCalls = calls.map((c) => ({
    id: c.id ?? newId(prefix),
    name: c.name,
    arguments: c.arguments ?? {},
  }));
  const output = text + toolCalls.map((c) => c.name + JSON.stringify(c.arguments)).join('');
  return {
    text,
    toolCalls,
    finish: reply.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop'),
    input: reply.usage?.input ?? roughTokens(req.allText),
    output: reply.usage?.output ?? roughTokens(output),
    cached: reply.usage?.cached ?? 0,
  };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function newId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

const now = () => Math.floor(Date.now() / 1000);

/** Cuts text into word-sized deltas, as a real stream delivers it. */
const pieces = (text: string) => (text ? text.split(/(?<=\s)/) : []);

/** Splits a string in two so the SDKs have to join partial JSON. */
const halves = (s: string) =>
  [s.slice(0, Math.ceil(s.length / 2)), s.slice(Math.ceil(s.length / 2))].filter(Boolean);

// OpenAI Chat Completions --------------------------------------------------------------------

function openaiUsage(a: Answer) {
  return {
    prompt_tokens: a.input,
    completion_tokens: a.output,
    total_tokens: a.input + a.output,
    prompt_tokens_details: { cached_tokens: a.cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function openaiCompletion(req: FakeRequest, a: Answer) {
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: a.text || (a.toolCalls.length ? null : ''),
    refusal: null,
    annotations: [],
  };
  if (a.toolCalls.length) {
    message.tool_calls = a.toolCalls.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: JSON.stringify(c.arguments) },
    }));
  }
  return {
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: now(),
    model: req.model || 'fake-model',
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, message, logprobs: null, finish_reason: a.finish }],
    usage: openaiUsage(a),
  };
}

function openaiStream(req: FakeRequest, a: Answer): string[] {
  const id = newId('chatcmpl-');
  const created = now();
  // Like the real API, usage comes only when asked for, in a last chunk with no choices.
  const withUsage = req.body?.stream_options?.include_usage === true;
  const chunk = (delta: object, finish: string | null = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: req.model || 'fake-model',
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}),
  });
  const chunks: object[] = [chunk({ role: 'assistant', content: '', refusal: null })];
  for (const text of pieces(a.text)) chunks.push(chunk({ content: text }));
  a.toolCalls.forEach((c, index) => {
    chunks.push(
      chunk({
        tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }],
      }),
    );
    for (const part of halves(JSON.stringify(c.arguments))) {
      chunks.push(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
    }
  });
  chunks.push(chunk({}, a.finish));
  if (withUsage) chunks.push({ ...chunk({}), choices: [], usage: openaiUsage(a) });
  return [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
}

const OPENAI_ERRORS: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  403: { type: 'invalid_request_error', code: null, message: 'You do not have access to this resource.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' },
};

/** OpenAI's error body: `{ error: { message, type, param, code } }`. */
function openaiError(status: number, r: Pick<FakeReply, 'errorType' | 'message'>) {
  const base =
    OPENAI_ERRORS[status] ??
    (status >= 500
      ? { type: 'server_error', code: null, message: 'The server had an error.' }
      : OPENAI_ERRORS[400]);
  return {
    error: {
      message: r.message ?? `${base.message} (fake-model-server)`,
      type: r.errorType ?? base.type,
      param: null,
      code: r.errorType ?? base.code,
    },
  };
}

function openaiModels() {
  return {
    object: 'list',
    data: [{ id: 'fake-model', object: 'model', created: 0, owned_by: 'fake-model-server' }],
  };
}

// Anthropic Messages -------------------------------------------------------------------------

const STOP_REASONS = { stop: 'end_turn', tool_calls: 'tool_use', length: 'max_tokens' } as const;

function anthropicUsage(a: Answer) {
  return {
    input_tokens: Math.max(0, a.input - a.cached),
    output_tokens: a.output,
    cache_read_input_tokens: a.cached,
    cache_creation_input_tokens: 0,
    cache_creation: null,
    server_tool_use: null,
    service_tier: 'standard',
  };
}

function anthropicContent(a: Answer) {
  const blocks: object[] = [];
  // Without tool calls there is always a text block, even an empty one, as in the real API.
  if (a.text || a.toolCalls.length === 0) blocks.push({ type: 'text', text: a.text, citations: null });
  for (const c of a.toolCalls)
    blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.arguments, caller: { type: 'direct' } });
  return blocks;
}

function anthropicMessage(req: FakeRequest, a: Answer) {
  return {
    id: newId('msg_'),
    type: 'message',
    role: 'assistant',
    model: req.model || 'fake-model',
    content: anthropicContent(a),
    stop_reason: STOP_REASONS[a.finish],
    stop_sequence: null,
    stop_details: null,
    container: null,
    usage: anthropicUsage(a),
  };
}

function anthropicStream(req: FakeRequest, a: Answer): string[] {
  const events: string[] = [];
  // Anthropic names every SSE event after its payload's type; the SDK skips events without a name.
  const emit = (data: { type: string; [key: string]: unknown }) =>
    events.push(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`);

  const usage = anthropicUsage(a);
  const message = {
    ...anthropicMessage(req, a),
    content: [],
    stop_reason: null,
    usage: { ...usage, output_tokens: 1 },
  };
  emit({ type: 'message_start', message });
  emit({ type: 'ping' });
  anthropicContent(a).forEach((block: any, index) => {
    if (block.type === 'text') {
      emit({ type: 'content_block_start', index, content_block: { ...block, text: '' } });
      for (const text of pieces(block.text)) {
        emit({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
      }
    } else {
      emit({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
      for (const partial_json of halves(JSON.stringify(block.input))) {
        emit({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } });
      }
    }
    emit({ type: 'content_block_stop', index });
  });
  const delta = {
    stop_reason: STOP_REASONS[a.finish],
    stop_sequence: null,
    stop_details: null,
    container: null,
  };
  const { input_tokens, output_tokens, cache_read_input_tokens } = usage;
  emit({ type: 'message_delta', delta, usage: { input_tokens, output_tokens, cache_read_input_tokens } });
  emit({ type: 'message_stop' });
  return events;
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** Anthropic's error body: `{ type: 'error', error: { type, message } }`. */
function anthropicError(status: number, r: Pick<FakeReply, 'errorType' | 'message'>) {
  const type =
    r.errorType ?? ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return {
    type: 'error',
    error: { type, message: r.message ?? `${type} (fake-model-server)` },
    request_id: newId('req_'),
  };
}

/** The error body each provider sends, which its SDK turns into RateLimitError, AuthenticationError, ... */
function errorBody(
  api: FakeRequest['api'],
  status: number,
  r: Pick<FakeReply, 'errorType' | 'message' | 'errorDetails'>,
) {
  return api === 'openai'
    ? openaiError(status, r)
    : api === 'anthropic'
      ? anthropicError(status, r)
      : geminiError(status, r);
}

// Gemini generateContent ---------------------------------------------------------------------

const GEMINI_FINISH = { stop: 'STOP', tool_calls: 'STOP', length: 'MAX_TOKENS' } as const;

function geminiUsage(a: Answer) {
  return {
    // Like the real API: promptTokenCount includes the cached part.
    promptTokenCount: a.input,
    candidatesTokenCount: a.output,
    totalTokenCount: a.input + a.output,
    ...(a.cached > 0 && { cachedContentTokenCount: a.cached }),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: a.input }],
  };
}

function geminiParts(a: Answer, text = a.text): object[] {
  const parts: object[] = [];
  if (text) parts.push({ text });
  for (const c of a.toolCalls) parts.push({ functionCall: { id: c.id, name: c.name, args: c.arguments } });
  return parts;
}

function geminiResponse(req: FakeRequest, a: Answer) {
  return {
    candidates: [
      { content: { role: 'model', parts: geminiParts(a) }, finishReason: GEMINI_FINISH[a.finish], index: 0 },
    ],
    usageMetadata: geminiUsage(a),
    modelVersion: req.model || 'fake-model',
    responseId: newId(''),
  };
}

/** `:streamGenerateContent?alt=sse`: one `data:` event per chunk; the last has the finish reason and usage. */
function geminiStream(req: FakeRequest, a: Answer): string[] {
  const texts = pieces(a.text);
  const chunks: object[] = texts.map((text) => ({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0 }],
    modelVersion: req.model || 'fake-model',
  }));
  chunks.push({
    candidates: [
      {
        content: { role: 'model', parts: geminiParts(a, '') },
        finishReason: GEMINI_FINISH[a.finish],
        index: 0,
      },
    ],
    usageMetadata: geminiUsage(a),
    modelVersion: req.model || 'fake-model',
  });
  return chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`);
}

const GEMINI_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's error body: `{ error: { code, message, status, details? } }`. */
function geminiError(status: number, r: Pick<FakeReply, 'errorType' | 'message' | 'errorDetails'>) {
  const word = r.errorType ?? GEMINI_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
  return {
    error: {
      code: status,
      message: r.message ?? `${word} (fake-model-server)`,
      status: word,
      ...(r.errorDetails && { details: r.errorDetails }),
    },
  };
}

function anthropicModels() {
  const model = {
    type: 'model',
    id: 'fake-model',
    display_name: 'Fake model',
    created_at: '2025-01-01T00:00:00Z',
  };
  return { data: [model], has_more: false, first_id: model.id, last_id: model.id };
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------------------

/**
 * The fake's embedding of a text: words hashed into 64 buckets, normalised (so texts sharing words
 * are close), deterministic across processes.
 */
export function fakeEmbedding(text: string): number[] {
  const v = new Array<number>(64).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 7;
    for (let i = 0; i < word.length; i++) h = (h * 31 + word.charCodeAt(i)) >>> 0;
    v[h % 64]! += 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Waits `ms`; true if the client went away meanwhile (then there is no one to answer). */
function clientLeft(res: http.ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(false);
    }, ms);
    res.once('close', onClose);
  });
}

/** The request-id header each SDK reads into `error.requestID` / `_request_id`. */
function requestIdHeader(api: FakeRequest['api']): Record<string, string> {
  if (api === 'gemini') return {};
  return api === 'openai' ? { 'x-request-id': newId('req_') } : { 'request-id': newId('req_') };
}

function lowerKeys(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

function sendJSON(res: http.ServerResponse, status: number, json: unknown, api: FakeRequest['api']): void {
  send(res, status, { 'content-type': 'application/json', ...requestIdHeader(api) }, JSON.stringify(json));
}

function send(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
