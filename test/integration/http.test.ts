import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createHttpServer } from '../../src/http/server';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
let server: Server;
let base: string;
beforeAll(async () => {
  h = await startHarness();
  server = createHttpServer(h.baton, { token: 'secret' });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await h?.close();
});
beforeEach(() => h.fake.reset());

async function call(method: string, path: string, body?: unknown, token = 'secret') {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const yaml = `
name: http
profiles:
  oa: { provider: openai, model: gpt-test }
default_profile: oa
agents:
  - name: a
    prompt: "http one {{input}}"
  - name: gate
    kind: approval
    depends_on: [a]
    deadline: 1h
  - name: b
    depends_on: [gate]
    prompt: "http two {{gate}}"
`;

test('start a YAML run, follow it, decide its gate, read its result', async () => {
  h.fake.on('http one', { text: 'DRAFT' });
  h.fake.on('http two', { text: 'DONE' });
  const runId = `http-${Date.now()}`;
  const started = await call('POST', '/runs', { ensemble: yaml, input: 'x', runId });
  expect(started).toEqual({ status: 201, body: { runId, started: true } });
  expect((await call('POST', '/runs', { ensemble: yaml, input: 'x', runId })).body).toEqual({
    runId,
    started: false,
  });

  let pending: any[] = [];
  for (let i = 0; i < 100 && pending.length === 0; i++) {
    pending = (await call('GET', '/approvals')).body.filter((p: { runId: string }) => p.runId === runId);
    if (!pending.length) await new Promise((r) => setTimeout(r, 100));
  }
  expect(pending[0]).toMatchObject({ runId, gate: 'gate' });
  expect((await call('GET', `/runs/${runId}`)).body.pendingApprovals[0].draft).toContain('DRAFT');

  // The decision binds to what was shown: the listing's digest passes, another one is refused as stale.
  expect(pending[0].digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  const stale = await call('POST', `/runs/${runId}/decisions`, {
    gate: 'gate',
    outcome: 'approve',
    digest: `sha256:${'0'.repeat(64)}`,
  });
  expect(stale.status).toBe(409);
  expect(stale.body.reason).toBe('stale');
  const decided = await call('POST', `/runs/${runId}/decisions`, {
    gate: 'gate',
    outcome: 'approve',
    by: 'alice',
    comment: 'fine',
    digest: pending[0].digest,
  });
  expect(decided.status).toBe(200);
  // Who decides is the authenticated principal (BATON_API_TOKEN's is `api-token`); the body's `by` is ignored.
  expect(decided.body).toMatchObject({ gate: 'gate', outcome: 'approved', by: 'api-token' });
  const again = await call('POST', `/runs/${runId}/decisions`, {
    gate: 'gate',
    outcome: 'reject',
    by: 'bob',
  });
  expect(again.status).toBe(409);
  expect(again.body.error).toMatch(/already decided/);

  const result = await call('GET', `/runs/${runId}/result`);
  expect(result.status).toBe(200);
  expect(result.body.output).toBe('DONE');
  expect((await call('GET', `/runs/${runId}/steps/a/output`)).body).toEqual({ output: 'DRAFT' });
});

test('a failed run answers 422 with its step; retry and fork start linked runs', async () => {
  h.fake.on('fails here', { status: 400, message: 'bad prompt' });
  const def = {
    ensemble:
      'name: f\nprofiles: { oa: { provider: openai, model: gpt-test } }\ndefault_profile: oa\nagents:\n  - name: a\n    prompt: "fine {{input}}"\n  - name: b\n    depends_on: [a]\n    prompt: "fails here {{a}}"\n',
    input: 'x',
  };
  const { body } = await call('POST', '/runs', def);
  const failed = await call('GET', `/runs/${body.runId}/result`);
  expect(failed.status).toBe(422);
  expect(failed.body).toMatchObject({ step: 'b', type: 'StepFailed' });
  expect(failed.body.error).toMatch(/bad prompt/);

  h.fake.reset();
  const retried = await call('POST', `/runs/${body.runId}/retry`, {});
  expect(retried.status).toBe(201);
  expect((await call('GET', `/runs/${retried.body.runId}/result`)).body.parent).toEqual({
    runId: body.runId,
    kind: 'retry',
  });
  expect(h.fake.count((r) => r.lastUserText === 'fine x')).toBe(0);

  const forked = await call('POST', `/runs/${retried.body.runId}/fork`, {
    fromStep: 'b',
    overrides: { prompt: 'forked {{a}}' },
  });
  expect(forked.status).toBe(201);
  await call('GET', `/runs/${forked.body.runId}/result`);
  expect(h.fake.count('forked')).toBe(1);
});

test('bad requests get a status and a message that says what is wrong', async () => {
  const bad = await call('POST', '/runs', {
    ensemble: 'name: x\nagents:\n  - name: a\n    depends_on: [zz]\n    model_profile: offline\n',
  });
  expect(bad.status).toBe(400);
  expect(bad.body.issues[0]).toMatchObject({ path: 'agents[0].depends_on[0]', line: 4 });
  expect((await call('POST', '/runs', {})).body.error).toMatch(/give the ensemble/);
  expect((await call('GET', '/runs/no-such-run')).status).toBe(404);
  expect((await call('GET', '/nope')).status).toBe(404);
  expect((await call('DELETE', '/runs')).status).toBe(405);
  expect((await call('GET', '/approvals', undefined, 'wrong')).status).toBe(401);
  const notJson = await fetch(`${base}/runs`, {
    method: 'POST',
    headers: { authorization: 'Bearer secret' },
    body: 'hello',
  });
  expect(notJson.status).toBe(415);
  const badJson = await fetch(`${base}/runs`, {
    method: 'POST',
    headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
    body: '{"ensemble": ',
  });
  expect(badJson.status).toBe(400);
});
