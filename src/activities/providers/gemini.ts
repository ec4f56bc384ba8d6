import {
  ApiError,
  FinishReason as GeminiFinishReason,
  GoogleGenAI,
  type Content,
  type GenerateContentConfig,
  type GenerateContentResponse,
  type Part,
} from '@google/genai';
import type { ChatMessage, FinishReason, ModelRequest, ToolCall } from '../../types';
import { configFailure, type ProviderErrorLike } from '../errors';
import { type CallOptions, type ModelProvider, type ProviderReply, streamError } from './types';

/** Where the Gemini API lives when neither the profile nor the worker names another endpoint. */
export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

/**
 * Map our messages onto Gemini's contents: system prompts go to `systemInstruction`, assistant
 * turns are `model` turns with `functionCall` parts, and tool results are `functionResponse` parts
 * of a user turn. Consecutive turns of one role are merged (the answers to parallel calls must
 * share one turn).
 */
export function toGeminiContents(messages: ChatMessage[]): { system?: string; contents: Content[] } {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  const contents: Content[] = [];
  const push = (role: 'user' | 'model', parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts!.push(...parts);
    else contents.push({ role, parts });
  };
  for (const m of messages) {
    if (m.role === 'user') push('user', m.content ? [{ text: m.content }] : []);
    else if (m.role === 'tool')
      push('user', [
        { functionResponse: { id: m.toolCallId, name: m.name, response: { output: m.content } } },
      ]);
    else if (m.role === 'assistant') {
      const parts: Part[] = m.content ? [{ text: m.content }] : [];
      for (const c of m.toolCalls ?? [])
        parts.push({
          functionCall: { id: c.id, name: c.name, args: c.arguments },
          // Gemini's thinking models refuse a function call sent back without the signature they gave it.
          ...(c.signature !== undefined && { thoughtSignature: c.signature }),
        });
      push('model', parts);
    }
  }
  return { ...(system.length && { system: system.join('\n\n') }), contents };
}

function finishReason(reason: string | undefined, hasToolCalls: boolean): FinishReason {
  // Gemini says STOP for a turn that ends in function calls too.
  if (hasToolCalls) return 'tool_calls';
  switch (reason) {
    case GeminiFinishReason.STOP:
      return 'stop';
    case GeminiFinishReason.MAX_TOKENS:
      return 'length';
    case GeminiFinishReason.SAFETY:
    case GeminiFinishReason.RECITATION:
    case GeminiFinishReason.BLOCKLIST:
    case GeminiFinishReason.PROHIBITED_CONTENT:
    case GeminiFinishReason.SPII:
    case GeminiFinishReason.IMAGE_SAFETY:
      return 'content_filter';
    default:
      return 'other';
  }
}

/**
 * An error from the Gemini API in the shape the classifier reads: the HTTP status, the parsed
 * error body (`{ error: { code, message, status, details } }`) and the response headers, which the
 * SDK's ApiError does not keep (so Retry-After would be lost without them).
 */
export class GeminiAPIError extends Error implements ProviderErrorLike {
  override name = 'GeminiAPIError';
  constructor(
    message: string,
    readonly status: number,
    readonly error: unknown,
    readonly headers: Headers | undefined,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** The request never got an answer (refused connection, reset, DNS); retried like the other SDKs' connection errors. */
export class GeminiConnectionError extends Error {
  override name = 'GeminiConnectionError';
}

/** Turn what the SDK threw into an error the model activity classifies; anything else passes through. */
function providerError(
  err: unknown,
  headers: Headers | undefined,
  status: number | undefined,
  unanswered: Error | undefined,
): unknown {
  if (err instanceof ApiError || (status !== undefined && status >= 300 && err instanceof Error)) {
    const e = err as Error & { status?: number };
    let body: unknown;
    try {
      body = JSON.parse(e.message);
    } catch {
      // An error event inside a stream: the SDK says `got status: <STATUS>. <the error body>`.
      try {
        body = JSON.parse(e.message.slice(e.message.indexOf('{')));
      } catch {
        body = undefined;
      }
    }
    const code = (body as { error?: { status?: unknown } } | undefined)?.error?.status;
    return new GeminiAPIError(
      e.message,
      e.status ?? status!,
      body,
      headers,
      typeof code === 'string' ? code : null,
    );
  }
  if (unanswered) {
    const cause = (unanswered as { cause?: { message?: string } }).cause?.message;
    return new GeminiConnectionError(
      /abort|timeout/i.test(unanswered.name)
        ? `the request timed out (${unanswered.message})`
        : `${unanswered.message}${cause ? ` (${cause})` : ''}`,
    );
  }
  return err;
}

/**
 * Google Gemini through the official `@google/genai` client (the Gemini API, not Vertex AI).
 * Structured output is asked for with `responseJsonSchema`; tools are function declarations with
 * their JSON Schemas. The SDK retries nothing (no `retryOptions`): Temporal's retry policy decides.
 * Base URL and Vertex mode are always given explicitly, so the SDK reads nothing from the
 * environment that the endpoint policy did not see.
 */
export function createGeminiProvider(opts: { apiKey: string; baseURL?: string }): ModelProvider {
  const endpoint = opts.baseURL ?? GEMINI_DEFAULT_BASE_URL;
  const client = new GoogleGenAI({
    apiKey: opts.apiKey,
    vertexai: false,
    httpOptions: { baseUrl: endpoint },
  });
  return {
    name: 'gemini',
    async complete(req: ModelRequest, call: CallOptions): Promise<ProviderReply> {
      const p = req.profile;
      const { system, contents } = toGeminiContents(req.messages);
      // One fetch per call: it keeps this response's headers (Retry-After) for the error, and
      // refuses redirects, which would carry the key to a host the endpoint policy never saw.
      let headers: Headers | undefined;
      let status: number | undefined;
      // What fetch threw (refused or reset connection, timeout); the SDK wraps it in a plain Error.
      let unanswered: Error | undefined;
      const fetchOnce = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
        let res: Response;
        try {
          res = await fetch(input, { ...init, redirect: 'manual' });
        } catch (err) {
          unanswered = err as Error;
          throw err;
        }
        headers = res.headers;
        status = res.status;
        return res;
      };
      const config: GenerateContentConfig = {
        abortSignal: call.signal,
        httpOptions: { fetch: fetchOnce, ...(call.timeoutMs !== undefined && { timeout: call.timeoutMs }) },
      };
      if (system) config.systemInstruction = system;
      if (p.temperature !== undefined) config.temperature = p.temperature;
      if (p.maxTokens !== undefined) config.maxOutputTokens = p.maxTokens;
      if (req.tools?.length) {
        config.tools = [
          {
            functionDeclarations: req.tools.map((t) => ({
              name: t.name,
              description: t.description,
              parametersJsonSchema: t.parameters,
            })),
          },
        ];
      }
      if (req.responseFormat) {
        config.responseMimeType = 'application/json';
        config.responseJsonSchema = req.responseFormat.schema;
      }
      // Streamed (`streamGenerateContent?alt=sse`): the chunks' parts are put together into one
      // response, read by the same replyOf as a non-streamed one, and the deltas reach watchers on
      // the way. Gemini sends each function call whole, in one part.
      const parts: Part[] = [];
      let finish: GeminiFinishReason | undefined;
      let usage: GenerateContentResponse['usageMetadata'];
      let modelVersion: string | undefined;
      let blocked = false;
      let seen = 0;
      let calls = 0;
      try {
        const stream = await client.models.generateContentStream({ model: p.model, contents, config });
        for await (const chunk of stream) {
          seen++;
          modelVersion ??= chunk.modelVersion;
          // Each chunk's usage counts the whole reply so far: the last one is the reply's.
          if (chunk.usageMetadata) usage = chunk.usageMetadata;
          if (chunk.promptFeedback?.blockReason) blocked = true;
          const candidate = chunk.candidates?.[0];
          if (!candidate) continue;
          if (candidate.finishReason) finish = candidate.finishReason;
          for (const part of candidate.content?.parts ?? []) {
            parts.push(part);
            if (typeof part.text === 'string' && part.text && !part.thought)
              call.onDelta?.({ type: 'text', text: part.text });
            if (part.functionCall) {
              const index = calls++;
              call.onDelta?.({
                type: 'tool_call',
                index,
                id: part.functionCall.id || `call_${index}`,
                ...(part.functionCall.name && { name: part.functionCall.name }),
                arguments: JSON.stringify(part.functionCall.args ?? {}),
              });
            }
          }
        }
      } catch (err) {
        if (seen === 0) ignoredStreaming(endpoint, status, headers);
        const mapped = providerError(err, headers, status, unanswered);
        // An HTTP error (also one sent as an event inside the stream) or no answer at all, as
        // without streaming; anything else broke the stream after it began: a cut connection.
        throw mapped === err ? streamError(err, call.signal) : mapped;
      }
      if (seen === 0) {
        ignoredStreaming(endpoint, status, headers);
        throw configFailure(
          `${endpoint} answered streamGenerateContent with no stream chunks; it must support alt=sse (Server-Sent Events)`,
        );
      }
      // Gemini's last chunk says why the reply ended; a stream that stops before it was cut.
      if (finish === undefined && !blocked)
        throw streamError(
          new Error('the stream ended before its last chunk (no finish reason)'),
          call.signal,
        );
      return replyOf(
        {
          candidates: [{ content: { role: 'model', parts }, ...(finish && { finishReason: finish }) }],
          ...(usage && { usageMetadata: usage }),
          ...(modelVersion !== undefined && { modelVersion }),
        } as GenerateContentResponse,
        p.model,
      );
    },
  };
}

/** A 2xx answer that is not a stream of Server-Sent Events: the server ignored `alt=sse`. */
function ignoredStreaming(endpoint: string, status: number | undefined, headers: Headers | undefined) {
  const type = headers?.get('content-type') ?? '';
  if (status === undefined || status < 200 || status >= 300 || type.includes('text/event-stream')) return;
  throw configFailure(
    `${endpoint} answered streamGenerateContent with ${type || 'a body of no content type'} instead of a stream of Server-Sent Events; Baton streams Gemini calls (alt=sse) and needs a server that supports it`,
  );
}

/** Text, function calls, finish reason and usage of a generateContent response. */
export function replyOf(res: GenerateContentResponse, model: string): ProviderReply {
  const candidate = res.candidates?.[0];
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const part of candidate?.content?.parts ?? []) {
    // Thought summaries are the model's notes, not its answer.
    if (typeof part.text === 'string' && !part.thought) text += part.text;
    if (part.functionCall) {
      toolCalls.push({
        // Older Gemini models give calls no id; the position in the turn makes one.
        id: part.functionCall.id || `call_${toolCalls.length}`,
        name: part.functionCall.name ?? '',
        arguments: (part.functionCall.args ?? {}) as Record<string, unknown>,
        ...(part.thoughtSignature !== undefined && { signature: part.thoughtSignature }),
      });
    }
  }
  const u = res.usageMetadata;
  return {
    text,
    toolCalls,
    finishReason: finishReason(candidate?.finishReason, toolCalls.length > 0),
    model: res.modelVersion ?? model,
    usage: {
      // promptTokenCount includes the cached part; thinking tokens are billed as output.
      inputTokens: u?.promptTokenCount ?? 0,
      outputTokens: (u?.candidatesTokenCount ?? 0) + (u?.thoughtsTokenCount ?? 0),
      cachedInputTokens: u?.cachedContentTokenCount ?? 0,
    },
  };
}
