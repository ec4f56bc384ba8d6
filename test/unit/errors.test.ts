import { ApplicationFailure } from '@temporalio/common';
import { classifyProviderError, parseRetryAfter, toApplicationFailure } from '../../src/activities/errors';

const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });

describe('parseRetryAfter', () => {
  test('prefers retry-after-ms', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
  });
  test('reads seconds, fractional seconds and HTTP dates', () => {
    expect(parseRetryAfter(headers({ 'retry-after': '2' }))).toBe(2000);
    expect(parseRetryAfter(headers({ 'retry-after': '0.5' }))).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:07 GMT' }), now)).toBe(7000);
  });
  test('ignores garbage and absence', () => {
    expect(parseRetryAfter(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(headers({}))).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('classifyProviderError', () => {
  const cases: [string, Parameters<typeof classifyProviderError>[0], string, boolean][] = [
    ['401', { status: 401, message: '401 bad key' }, 'ModelAuthError', false],
    ['403', { status: 403, message: 'forbidden' }, 'ModelAuthError', false],
    ['402', { status: 402, message: 'pay up' }, 'ModelQuotaError', false],
    [
      '429 insufficient_quota code',
      { status: 429, code: 'insufficient_quota', message: 'quota' },
      'ModelQuotaError',
      false,
    ],
    [
      '429 quota words',
      { status: 429, message: 'You exceeded your current quota, please check your plan' },
      'ModelQuotaError',
      false,
    ],
    [
      '400 credit balance',
      { status: 400, message: 'Your credit balance is too low to access the API' },
      'ModelQuotaError',
      false,
    ],
    ['429 rate limit', { status: 429, message: 'Rate limit reached' }, 'ModelRateLimited', true],
    ['408', { status: 408, message: 'timeout' }, 'ModelTransientError', true],
    ['409', { status: 409, message: 'conflict' }, 'ModelTransientError', true],
    ['500', { status: 500, message: 'oops' }, 'ModelServerError', true],
    ['529', { status: 529, message: 'overloaded' }, 'ModelServerError', true],
    ['400', { status: 400, message: 'bad param' }, 'ModelBadRequest', false],
    ['404', { status: 404, message: 'no such model' }, 'ModelBadRequest', false],
    ['422', { status: 422, message: 'bad' }, 'ModelBadRequest', false],
    ['connection', { name: 'APIConnectionError', message: 'Connection error.' }, 'ModelTransientError', true],
    [
      'timeout',
      { name: 'APIConnectionTimeoutError', message: 'Request timed out.' },
      'ModelTransientError',
      true,
    ],
  ];
  test.each(cases)('%s', (_n, err, type, retryable) => {
    const c = classifyProviderError(err, 'openai');
    expect(c.type).toBe(type);
    expect(c.retryable).toBe(retryable);
  });

  test("keeps the provider's own message from the error body", () => {
    const c = classifyProviderError(
      { status: 401, message: '401 {...}', error: { error: { message: 'Invalid x-api-key' } } },
      'anthropic',
    );
    expect(c.message).toContain('Invalid x-api-key');
    expect(c.message).toMatch(/^anthropic rejected the API key \(HTTP 401\)/);
    expect(c.message).toContain("Check the key in the worker's environment");
  });

  test('a rate limit carries the Retry-After delay', () => {
    const c = classifyProviderError(
      { status: 429, message: 'slow', headers: headers({ 'retry-after': '3' }) },
      'openai',
    );
    expect(c.retryAfterMs).toBe(3000);
  });
});

describe('toApplicationFailure', () => {
  test('retryable with Retry-After becomes nextRetryDelay', () => {
    const f = toApplicationFailure({
      type: 'ModelRateLimited',
      retryable: true,
      message: 'm',
      retryAfterMs: 1500,
    });
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(1500);
  });
  test('non-retryable never carries a delay', () => {
    const f = toApplicationFailure({
      type: 'ModelAuthError',
      retryable: false,
      message: 'm',
      retryAfterMs: 1500,
    });
    expect(f.nonRetryable).toBe(true);
    expect(f.nextRetryDelay).toBeUndefined();
  });
  test('a zero delay is left to the retry policy', () => {
    const f = toApplicationFailure({
      type: 'ModelRateLimited',
      retryable: true,
      message: 'm',
      retryAfterMs: 0,
    });
    expect(f.nextRetryDelay).toBeUndefined();
  });
});
