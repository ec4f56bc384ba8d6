import { ApplicationFailure } from '@temporalio/common';
import type { ProviderName } from '../types';

import { ModelErrorType } from '../error-types';

export { ModelErrorType, NON_RETRYABLE_MODEL_ERRORS } from '../error-types';

/** What the classifier needs to know of an SDK error (both official SDKs' APIError fit this shape). */
export interface ProviderErrorLike {
  name?: string;
  message?: string;
  status?: number;
  headers?: { get(name: string): string | null } | undefined;
  /** The parsed JSON error body. */
  error?: unknown;
  code?: string | null;
  type?: string | null;
}

export interface ClassifiedError {
  type: string;
  retryable: boolean;
  message: string;
  /** Delay the provider asked for, in milliseconds. */
  retryAfterMs?: number;
}

/** Read `retry-after-ms` or `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(
  headers: ProviderErrorLike['headers'],
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0)
    return Math.round(Number(ms));
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return undefined;
  const seconds = Number(ra);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The provider's own words: the error body's message when there is one, else the SDK's message. */
function providerMessage(err: ProviderErrorLike): string {
  const body = err.error as { message?: unknown; error?: { message?: unknown } } | undefined;
  const fromBody =
    typeof body?.message === 'string'
      ? body.message
      : typeof body?.error?.message === 'string'
        ? body.error.message
        : undefined;
  return (fromBody ?? err.message ?? 'no message').trim();
}

/** Collect the codes and types an error carries, wherever the SDK put them. */
function errorCodes(err: ProviderErrorLike): string[] {
  const body = err.error as
    { type?: unknown; code?: unknown; error?: { type?: unknown; code?: unknown } } | undefined;
  return [err.code, err.type, body?.type, body?.code, body?.error?.type, body?.error?.code].filter(
    (c): c is string => typeof c === 'string',
  );
}

/** The `details` of a Google API error body (`{ error: { details: [{ '@type', ... }] } }`). */
function googleDetails(err: ProviderErrorLike): Record<string, unknown>[] {
  const d = (err.error as { error?: { details?: unknown } } | undefined)?.error?.details;
  return Array.isArray(d) ? d.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : [];
}

/**
 * The delay a Google API error asks for in its RetryInfo detail (`retryDelay: "34s"`), in milliseconds.
 *
 * @example retryDelayOf({ error: { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.5s' }] } }) // 1500
 */
export function retryDelayOf(body: unknown): number | undefined {
  for (const d of googleDetails({ error: body })) {
    if (typeof d['@type'] !== 'string' || !d['@type'].endsWith('google.rpc.RetryInfo')) continue;
    const m = typeof d.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay.trim()) : null;
    if (m) return Math.round(Number(m[1]) * 1000);
  }
  return undefined;
}

/**
 * Gemini answers both "too many requests this minute" and "no quota left" with 429
 * RESOURCE_EXHAUSTED and the same words ("You exceeded your current quota"). Retrying helps only
 * the first: a per-day quota, a limit of 0 (no access on this tier) or spent prepaid credits wait
 * for a person.
 */
function geminiQuotaExhausted(err: ProviderErrorLike, said: string): boolean {
  const perDay = googleDetails(err).some(
    (d) =>
      Array.isArray(d.violations) &&
      d.violations.some(
        (v: { quotaId?: unknown } | null) => typeof v?.quotaId === 'string' && /PerDay/i.test(v.quotaId),
      ),
  );
  return perDay || /\blimit: 0\b|prepay|credits? (are |is )?(depleted|exhausted)/i.test(said);
}

const QUOTA_CODES = [
  'insufficient_quota',
  'billing_hard_limit_reached',
  'billing_not_active',
  'quota_exceeded',
];
const QUOTA_WORDS =
  /insufficient[_ ]quota|credit balance is too low|spend(ing)? limit|billing|exceeded your current quota/i;

/**
 * Decide whether a provider error is worth retrying, and say what went wrong in plain words.
 *
 * @example classifyProviderError(err, 'openai') // { type: 'ModelQuotaError', retryable: false, ... }
 */
export function classifyProviderError(
  err: ProviderErrorLike,
  provider: ProviderName,
  now?: number,
): ClassifiedError {
  const said = providerMessage(err);
  const status = err.status;
  const codes = errorCodes(err);
  const who = provider === 'openai-compatible' ? 'the OpenAI-compatible endpoint' : provider;

  if (status === undefined) {
    const timedOut = /timeout|timed out/i.test(
      `${err.name} ${(err as object).constructor?.name ?? ''} ${said}`,
    );
    return {
      type: ModelErrorType.Transient,
      retryable: true,
      message:
        `${timedOut ? 'The request to' : 'Could not reach'} ${who} ${timedOut ? 'timed out' : ''}: ${said}`.replace(
          /\s+/g,
          ' ',
        ),
    };
  }
  if (provider === 'gemini' && status === 429 && !geminiQuotaExhausted(err, said)) {
    const retryAfterMs = parseRetryAfter(err.headers, now) ?? retryDelayOf(err.error);
    return {
      type: ModelErrorType.RateLimited,
      retryable: true,
      message: `${who} is rate limiting this key (HTTP 429): ${said}`,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }
  // Gemini says 400 INVALID_ARGUMENT for a wrong key; its ErrorInfo names the reason.
  const badKey = status === 400 && googleDetails(err).some((d) => d.reason === 'API_KEY_INVALID');
  if (
    (provider === 'gemini' && status === 429) ||
    status === 402 ||
    codes.some((c) => QUOTA_CODES.includes(c)) ||
    ((status === 429 || status === 400 || status === 403) && QUOTA_WORDS.test(said))
  ) {
    return {
      type: ModelErrorType.Quota,
      retryable: false,
      message: `${who} says the account is out of quota or over its spend limit (HTTP ${status}): ${said}. Add credit or raise the limit, then retry the run.`,
    };
  }
  if (status === 401 || status === 403 || badKey) {
    return {
      type: ModelErrorType.Auth,
      retryable: false,
      message: `${who} rejected the API key (HTTP ${status}): ${said}. Check the key in the worker's environment, then retry the run.`,
    };
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(err.headers, now) ?? retryDelayOf(err.error);
    return {
      type: ModelErrorType.RateLimited,
      retryable: true,
      message: `${who} is rate limiting this key (HTTP 429): ${said}`,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }
  if (status === 408 || status === 409 || status >= 500) {
    const retryAfterMs = parseRetryAfter(err.headers, now) ?? retryDelayOf(err.error);
    return {
      type: status >= 500 ? ModelErrorType.ServerError : ModelErrorType.Transient,
      retryable: true,
      message: `${who} ${status === 529 ? 'is overloaded' : 'failed'} (HTTP ${status}): ${said}`,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }
  return {
    type: ModelErrorType.BadRequest,
    retryable: false,
    message: `${who} refused the request (HTTP ${status}): ${said}. Fix the step's model, prompt or parameters, then retry the run.`,
  };
}

/** Turn a classified error into the Temporal failure the activity throws. */
export function toApplicationFailure(c: ClassifiedError, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({
    type: c.type,
    message: c.message,
    nonRetryable: !c.retryable,
    // A zero delay would end the retries; "retry now" is the policy's own backoff.
    ...(c.retryAfterMs !== undefined &&
      c.retryAfterMs > 0 &&
      c.retryable && { nextRetryDelay: c.retryAfterMs }),
    ...(cause && { cause }),
  });
}

/** A worker set up without what a provider needs; never worth a retry. */
export function configFailure(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ModelErrorType.Config, message, nonRetryable: true });
}
