/**
 * The HTTP API's security promises (docs/security.md, "The HTTP API"): keys with principals and
 * scopes, constant-time checks, content types, body size, browser origins, loopback-only without
 * keys, decisions and starts recorded by the authenticated principal, and bad input as 4xx.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiConfigError, hashKey, keyEntry, parseKeys } from '../../src/http/auth';
import { createHttpServer, type ApiOptions } from '../../src/http/server';
import { startHarness, type Harness } from '../support/harness';
import { jsonHeaders, raw } from '../support/http-client';

let h: Harness;
const servers: Server[] = [];

async function listen(opts: ApiOptions, host = '127.0.0.1'): Promise<string> {
  const server = createHttpServer(h.baton, { env: {}, ...opts });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const KEYS = [
  keyEntry('reader', ['read'], 'key-reader'),
  keyEntry('runner', ['run', 'read'], 'key-runner'),
  keyEntry('decider', ['decide', 'read'], 'key-decider'),
].join('\n');

let base: string;
beforeAll(async () => {
  h = await startHarness();
  base = await listen({
    keys: KEYS,
    token: 'admin-token',
    corsOrigins: ['https://app.example'],
    codec: {
      encode: async (b) => ({ encoded: b }),
      decode: async (b) => ({ decoded: b }),
    },
  });
});
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  await h?.close();
});

/** Runs on this file's task queue (visibility is eventually consistent: wait a moment first). */
async function runCount(): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000));
  return (await h.baton.temporal.workflow.count(`TaskQueue = '${h.taskQueue}'`)).count;
}

const approvalYaml = `
name: sec
profiles:
  oa: { provider: openai, model: gpt-test }
default_profile: oa
agents:
  - name: a
    prompt: "sec one {{input}}"
  - name: gate
    kind: approval
    depends_on: [a]
    deadline: 1h
`;

test('keys carry principals and scopes; Bearer in any case; wrong or missing keys get 401', async () => {
  expect((await raw(base, 'GET', '/approvals')).status).toBe(401);
  expect((await raw(base, 'GET', '/approvals', { headers: { authorization: 'Bearer nope' } })).status).toBe(
    401,
  );
  expect(
    (await raw(base, 'GET', '/approvals', { headers: { authorization: 'bearer key-reader' } })).status,
  ).toBe(200);
  expect(
    (await raw(base, 'GET', '/approvals', { headers: { authorization: 'BEARER key-reader' } })).status,
  ).toBe(200);
  const refused = await raw(base, 'POST', '/runs', {
    headers: jsonHeaders('key-reader'),
    body: JSON.stringify({ ensemble: approvalYaml, input: 'x' }),
  });
  expect(refused.status).toBe(403);
  expect(refused.json).toMatchObject({ scope: 'run' });
  expect(refused.json.error).toMatch(/lacks the scope 'run'/);
  const noDecide = await raw(base, 'POST', '/runs/whatever/decisions', {
    headers: jsonHeaders('key-runner'),
    body: JSON.stringify({ outcome: 'approved' }),
  });
  expect(noDecide.status).toBe(403);
  expect(noDecide.json.error).toMatch(/'decide'/);
});

test('runs record who started them; a decision is recorded by the principal, never the body', async () => {
  h.fake.on('sec one', { text: 'DRAFT' });
  const runId = `sec-${Date.now()}`;
  const started = await raw(base, 'POST', '/runs', {
    headers: jsonHeaders('key-runner'),
    body: JSON.stringify({ ensemble: approvalYaml, input: 'x', runId }),
  });
  expect(started.status).toBe(201);
  let pending: { runId: string }[] = [];
  for (let i = 0; i < 100 && pending.length === 0; i++) {
    pending = (await raw(base, 'GET', '/approvals', { headers: jsonHeaders('key-reader') })).json.filter(
      (p: { runId: string }) => p.runId === runId,
    );
    if (!pending.length) await new Promise((r) => setTimeout(r, 100));
  }
  expect(
    (await raw(base, 'GET', `/runs/${runId}`, { headers: jsonHeaders('key-reader') })).json,
  ).toMatchObject({
    startedBy: 'runner',
  });
  const listed = (await raw(base, 'GET', '/runs?limit=50', { headers: jsonHeaders('key-reader') })).json;
  expect(listed.find((r: { runId: string }) => r.runId === runId)).toMatchObject({ startedBy: 'runner' });

  const decided = await raw(base, 'POST', `/runs/${runId}/decisions`, {
    headers: jsonHeaders('key-decider'),
    body: JSON.stringify({ gate: 'gate', outcome: 'reject', by: 'mallory', comment: 'no' }),
  });
  expect(decided.status).toBe(200);
  expect(decided.json).toMatchObject({ gate: 'gate', outcome: 'rejected', by: 'decider' });
  const result = await raw(base, 'GET', `/runs/${runId}/result`, { headers: jsonHeaders('key-reader') });
  expect(result.status).toBe(422);
  expect(result.json.progress.decisions[0]).toMatchObject({ by: 'decider' });

  // A retry started by a key is recorded as started by that key's principal too.
  const retried = await raw(base, 'POST', `/runs/${runId}/retry`, {
    headers: jsonHeaders('key-runner'),
    body: '{}',
  });
  expect(retried.status).toBe(201);
  expect(
    (await raw(base, 'GET', `/runs/${retried.json.runId}`, { headers: jsonHeaders('key-reader') })).json,
  ).toMatchObject({ startedBy: 'runner' });
  expect(
    (await raw(base, 'POST', `/runs/${retried.json.runId}/cancel`, { headers: jsonHeaders('key-runner') }))
      .status,
  ).toBe(202);
});

test('JSON bodies need a JSON content type (415) and a bounded size (413); nothing starts', async () => {
  const before = await runCount();
  const body = JSON.stringify({ ensemble: approvalYaml, input: 'x' });
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const r = await raw(base, 'POST', '/runs', {
      headers: { authorization: 'Bearer admin-token', 'content-type': type },
      body,
    });
    expect(r.status).toBe(415);
  }
  const noType = await raw(base, 'POST', '/runs', { headers: { authorization: 'Bearer admin-token' }, body });
  expect(noType.status).toBe(415);
  const small = await listen({ token: 'admin-token', maxBodyBytes: 1000 });
  const big = await raw(small, 'POST', '/runs', {
    headers: jsonHeaders('admin-token'),
    body: JSON.stringify({ ensemble: approvalYaml, input: 'y'.repeat(2000) }),
  });
  expect(big.status).toBe(413);
  expect(await runCount()).toBe(before);
});

test('cross-origin browser requests are refused unless the origin is allowed', async () => {
  const before = await runCount();
  const body = JSON.stringify({ ensemble: approvalYaml, input: 'x' });
  const evil = await raw(base, 'POST', '/runs', {
    headers: { ...jsonHeaders('admin-token'), origin: 'http://evil.example' },
    body,
  });
  expect(evil.status).toBe(403);
  expect(evil.json.error).toMatch(/cross-origin request from http:\/\/evil.example refused/);
  const crossSite = await raw(base, 'GET', '/approvals', {
    headers: { ...jsonHeaders('admin-token'), 'sec-fetch-site': 'cross-site' },
  });
  expect(crossSite.status).toBe(403);
  const nullOrigin = await raw(base, 'GET', '/approvals', {
    headers: { ...jsonHeaders('admin-token'), origin: 'null' },
  });
  expect(nullOrigin.status).toBe(403);
  expect(await runCount()).toBe(before);

  const preflight = await raw(base, 'OPTIONS', '/runs', {
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example');
  const allowed = await raw(base, 'GET', '/approvals', {
    headers: { ...jsonHeaders('key-reader'), origin: 'https://app.example', 'sec-fetch-site': 'cross-site' },
  });
  expect(allowed.status).toBe(200);
  expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
  const evilPreflight = await raw(base, 'OPTIONS', '/runs', { headers: { origin: 'http://evil.example' } });
  expect(evilPreflight.status).toBe(403);
  expect(evilPreflight.headers['access-control-allow-origin']).toBeUndefined();
  // The API's own origin (a page it serves) is same-origin.
  const own = await raw(base, 'GET', '/approvals', {
    headers: { ...jsonHeaders('key-reader'), origin: base, 'sec-fetch-site': 'same-origin' },
  });
  expect(own.status).toBe(200);
});

test('BATON_CODEC_CORS_ORIGINS replaces the Temporal UI default on the codec routes', async () => {
  const other = await listen({
    token: 'admin-token',
    env: { BATON_CODEC_CORS_ORIGINS: 'https://temporal.example' },
    codec: { encode: async (b) => b, decode: async (b) => b },
  });
  const body = JSON.stringify({ payloads: [] });
  const decode = (origin: string) =>
    raw(other, 'POST', '/codec/decode', { headers: { ...jsonHeaders('admin-token'), origin }, body });
  expect((await decode('https://temporal.example')).status).toBe(200);
  expect((await decode('http://localhost:8233')).status).toBe(403);
  const none = await listen({
    token: 'admin-token',
    env: { BATON_CODEC_CORS_ORIGINS: '' },
    codec: { encode: async (b) => b, decode: async (b) => b },
  });
  const fromUi = await raw(none, 'POST', '/codec/decode', {
    headers: { ...jsonHeaders('admin-token'), origin: 'http://localhost:8233' },
    body,
  });
  expect(fromUi.status).toBe(403);
});

test('the default body limit is 5 MB', async () => {
  const big = await raw(base, 'POST', '/runs', {
    headers: jsonHeaders('admin-token'),
    body: JSON.stringify({ ensemble: approvalYaml, input: 'z'.repeat(5 * 1024 * 1024) }),
  });
  expect(big.status).toBe(413);
  expect(big.json.error).toMatch(/over 5242880 bytes/);
});

test('codec endpoints: behind auth (decode: read, encode: run), open to the Temporal UI origin only there', async () => {
  const payloads = { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'IjEi' }] };
  const ui = { origin: 'http://localhost:8233' };
  const decoded = await raw(base, 'POST', '/codec/decode', {
    headers: { ...jsonHeaders('key-reader'), ...ui },
    body: JSON.stringify(payloads),
  });
  expect(decoded.status).toBe(200);
  expect(decoded.json).toEqual({ decoded: payloads });
  expect(decoded.headers['access-control-allow-origin']).toBe('http://localhost:8233');
  const preflight = await raw(base, 'OPTIONS', '/codec/decode', {
    headers: { ...ui, 'access-control-request-headers': 'authorization,content-type,x-namespace' },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers['access-control-allow-headers']).toMatch(/x-namespace/);
  expect(
    (
      await raw(base, 'POST', '/codec/encode', {
        headers: jsonHeaders('key-reader'),
        body: JSON.stringify(payloads),
      })
    ).status,
  ).toBe(403);
  expect(
    (
      await raw(base, 'POST', '/codec/encode', {
        headers: jsonHeaders('key-runner'),
        body: JSON.stringify(payloads),
      })
    ).json,
  ).toEqual({ encoded: payloads });
  expect(
    (await raw(base, 'POST', '/codec/decode', { headers: ui, body: JSON.stringify(payloads) })).status,
  ).toBe(401);
  // The UI origin opens the codec routes only.
  expect(
    (await raw(base, 'GET', '/approvals', { headers: { ...jsonHeaders('key-reader'), ...ui } })).status,
  ).toBe(403);
  const bad = await raw(base, 'POST', '/codec/decode', {
    headers: jsonHeaders('key-reader'),
    body: JSON.stringify({ payloads: 'x' }),
  });
  expect(bad.status).toBe(400);
  expect(bad.json.error).toMatch(/body\.payloads/);
});

test('without keys the server refuses to listen beyond loopback, and answers only loopback host names', async () => {
  const server = createHttpServer(h.baton, { env: {} });
  const error = await new Promise<Error>((resolve) => {
    server.once('error', resolve);
    server.listen(0, '0.0.0.0');
  });
  expect(error).toBeInstanceOf(ApiConfigError);
  expect(error.message).toMatch(/refusing to listen on 0\.0\.0\.0 without authentication/);
  expect(server.listening).toBe(false);

  const local = await listen({ localPrincipal: 'carol' });
  expect((await raw(local, 'GET', '/approvals')).status).toBe(200);
  const rebound = await raw(local, 'GET', '/approvals', { headers: { host: 'evil.example:8080' } });
  expect(rebound.status).toBe(403);
});

test('a keys file holds hashes only; plain keys and unknown scopes are refused with where and what', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-keys-'));
  const file = join(dir, 'keys');
  writeFileSync(file, `# team keys\n${keyEntry('filed', ['read'], 'key-filed')}\n`);
  const fromFile = await listen({ keysFile: file });
  expect((await raw(fromFile, 'GET', '/approvals', { headers: jsonHeaders('key-filed') })).status).toBe(200);
  expect(
    (await raw(fromFile, 'GET', '/approvals', { headers: jsonHeaders(hashKey('key-filed')) })).status,
  ).toBe(401);
  expect(() => parseKeys('bob:read:plain-secret', 'BATON_API_KEYS')).toThrow(/SHA-256 hash/);
  expect(() => parseKeys(`bob:root:${hashKey('x')}`, 'f')).toThrow(/f:1: key 'bob' has unknown scope 'root'/);
  expect(() => parseKeys(`bob:read:${hashKey('x')}\nbob:run:${hashKey('y')}`, 'f')).toThrow(/listed twice/);
  expect(() => createHttpServer(h.baton, { env: {}, keysFile: join(dir, 'missing') })).toThrow(
    /cannot read the keys file/,
  );
});

test('bad input over HTTP is a 4xx naming the field, never a 500, and starts nothing', async () => {
  const before = await runCount();
  const post = (path: string, body: unknown) =>
    raw(base, 'POST', path, { headers: jsonHeaders('admin-token'), body: JSON.stringify(body) });
  const profile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
  const step = (name: string, extra: Record<string, unknown> = {}) => ({
    kind: 'agent',
    name,
    dependsOn: [],
    profile,
    prompt: '{{input}}',
    ...extra,
  });
  const cases: [unknown, RegExp][] = [
    [
      {
        definition: { name: 'c', steps: [step('a', { dependsOn: ['b'] }), step('b', { dependsOn: ['a'] })] },
      },
      /definition\.steps\[1\]\.dependsOn: dependency cycle: b -> a -> b|dependency cycle/,
    ],
    [
      { definition: { name: 't', steps: [step('a', { prompt: '{{constructor.constructor}}' })] } },
      /definition\.steps\[0\]\.prompt: .*unknown step 'constructor'/,
    ],
    [{ definition: { name: '../../etc/passwd', steps: [step('a')] } }, /definition\.name/],
    [{ definition: { name: 'n', steps: [step('../../etc/passwd')] } }, /definition\.steps\[0\]\.name/],
    [
      { definition: { name: 'p', steps: [step('a', { profile: { ...profile, provider: 'evil' } })] } },
      /definition\.steps\[0\]\.profile\.provider/,
    ],
    [
      { definition: { name: 'd', steps: [step('a')] }, options: { heartbeatTimeout: 'banana' } },
      /body\.options\.heartbeatTimeout: expected a duration/,
    ],
    [{ definition: { name: 'r', steps: [step('a')] }, runId: 'x'.repeat(3000) }, /body\.runId/],
    [{ ensemble: approvalYaml.replace('provider: openai', 'provider: evil') }, /provider/],
  ];
  for (const [body, message] of cases) {
    const r = await post('/runs', body);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(message);
  }
  const longId = await raw(base, 'GET', `/runs/${'x'.repeat(3000)}`, { headers: jsonHeaders('admin-token') });
  expect(longId.status).toBe(400);
  expect(longId.json.error).toMatch(/path\.id: a run id holds at most 1000 characters/);
  for (const path of ['/runs/%E0%A4%A', '/runs/%zz/result', '/runs/a%/steps/b/output']) {
    const r = await raw(base, 'GET', path, { headers: jsonHeaders('admin-token') });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/malformed percent-escape/);
  }
  const fork = await post('/runs/no-such-run-anywhere/fork', { fromStep: 'a' });
  expect(fork.status).toBe(404);
  const retry = await post('/runs/no-such-run-anywhere/retry', {});
  expect(retry.status).toBe(404);
  expect(await runCount()).toBe(before);
  // Still healthy.
  expect((await raw(base, 'GET', '/healthz')).json).toEqual({ ok: true });
});
