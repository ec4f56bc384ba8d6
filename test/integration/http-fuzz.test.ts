/**
 * Thousands of malformed requests over every route, from a seeded (deterministic) generator:
 * bad JSON, wrong types, missing and unknown fields, bad ids and escapes, bad content types,
 * oversized bodies, cycles, bad templates, unknown providers, bad durations, bad YAML, wrong
 * methods, missing keys and scopes, foreign origins. Every answer must be a 4xx with an error
 * message, never a 500; no run may start; the server must stay healthy.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyEntry } from '../../src/http/auth';
import { createHttpServer } from '../../src/http/server';
import { startHarness, type Harness } from '../support/harness';
import { jsonHeaders, raw } from '../support/http-client';

let h: Harness;
let server: Server;
let base: string;
const MAX_BODY = 64 * 1024;

beforeAll(async () => {
  h = await startHarness();
  server = createHttpServer(h.baton, {
    env: {},
    token: 'fuzz-admin',
    keys: keyEntry('reader', ['read'], 'fuzz-reader'),
    maxBodyBytes: MAX_BODY,
    codec: { encode: async (b) => b, decode: async (b) => b },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await h?.close();
});

/** mulberry32: a small seeded generator, so every run sends the same requests. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz{}.$/\\%"\'<>\u0000\u00e9 \n') =>
    Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('');
  return { next, int, pick, str };
}

interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const profile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const agent = (name: string, extra: Record<string, unknown> = {}) => ({
  kind: 'agent',
  name,
  dependsOn: [] as string[],
  profile,
  prompt: '{{input}}',
  ...extra,
});
/** A definition that would start: every generated one breaks it in at least one way. */
const validDefinition = () => ({
  name: 'fuzz',
  steps: [agent('a'), agent('b', { dependsOn: ['a'], prompt: 'use {{steps.a}}' })],
});

type R = ReturnType<typeof rng>;

/** Ways to break a definition; each returns a definition that must be refused. */
const breakDefinition: ((r: R) => unknown)[] = [
  () => {
    const d = validDefinition();
    d.steps[0]!.dependsOn = ['b'];
    return d; // cycle
  },
  (r) => {
    const d = validDefinition();
    d.steps.push(
      agent('c', { dependsOn: ['c'] }),
      agent('e', { dependsOn: ['f'] }),
      agent('f', { dependsOn: ['e'] }),
    );
    if (r.int(2)) d.steps.pop();
    return d; // self-dependency, and maybe a longer cycle
  },
  (r) => {
    const d = validDefinition();
    d.steps[1]!.prompt = r.pick([
      '{{constructor.constructor}}',
      '{{__proto__}}',
      '{{steps.nope}}',
      '{{ input',
      '{{}}',
      '{{item}}',
      '{{loop.iteration}}',
      '{{steps.b}}',
      `{{${r.str(5, 'abcxyz')}}}`,
      `{{ ${r.str(8)} }}`,
    ]);
    return d; // bad template
  },
  (r) => {
    const d = validDefinition();
    (d.steps[0]!.profile as Record<string, unknown>) = {
      ...profile,
      provider: r.pick(['evil', '', 'OpenAI', 'openai ', r.str(6, 'abcdefgh'), 42, null]),
    };
    return d; // unknown provider
  },
  (r) => {
    const d = validDefinition();
    (d.steps[0] as Record<string, unknown>).timeout = r.pick([
      'banana',
      '-1s',
      '0s',
      '5 fortnights',
      '',
      0,
      -5,
      1.5,
      true,
      r.str(4),
    ]);
    return d; // bad duration
  },
  (r) => {
    const d = validDefinition();
    if (r.int(2))
      d.name = r.pick(['../../etc/passwd', '', ' a', 'a b', 'x'.repeat(129), '-a', 'a/b', '..', '.hidden']);
    else
      d.steps[1]!.name = r.pick([
        '../../etc/passwd',
        '',
        ' a',
        'a b',
        'input',
        'steps',
        'x'.repeat(65),
        '1abc',
        'a.b',
      ]);
    return d; // bad names
  },
  (r) => {
    const d = validDefinition() as Record<string, unknown>;
    delete d[r.pick(['name', 'steps'])];
    return d; // missing field
  },
  (r) => {
    const d = validDefinition();
    const s = d.steps[r.int(2)] as Record<string, unknown>;
    delete s[r.pick(['kind', 'name', 'dependsOn', 'profile', 'prompt'])];
    return d; // missing step field
  },
  (r) => {
    const d = validDefinition();
    const s = d.steps[0] as Record<string, unknown>;
    const field = r.pick([
      'kind',
      'name',
      'dependsOn',
      'profile',
      'prompt',
      'maxIterations',
      'tools',
      'fanOut',
    ]);
    s[field] = r.pick([42, 'x', [], {}, null, true, [1, 2]]);
    if (field === 'prompt' && typeof s[field] === 'string') s[field] = 7;
    if (field === 'name' && s[field] === 'x') s[field] = 9;
    return d; // wrong types
  },
  (r) => r.pick([null, 42, 'definition', [], [validDefinition()], { name: 'x', steps: [] }, {}]),
  () => {
    const d = validDefinition() as Record<string, unknown>;
    d.output = 'nope';
    return d;
  },
  () => ({
    name: 'loops',
    steps: [
      {
        kind: 'loop',
        name: 'l',
        dependsOn: [],
        maxIterations: 3,
        until: { ref: 'l2', op: 'truthy' },
        body: [
          {
            kind: 'loop',
            name: 'l2',
            dependsOn: [],
            maxIterations: 1,
            until: { ref: 'x', op: 'truthy' },
            body: [],
          },
        ],
      },
    ],
  }),
  (r) => {
    const d = validDefinition();
    (d.steps[0]!.profile as Record<string, unknown>).baseURL = r.pick([
      'https://user:key@evil.example/v1',
      'https://evil.example/v1?key=1',
      'file:///etc/passwd',
      'not a url',
    ]);
    return d;
  },
];

function generate(seed: number, n: number): FuzzRequest[] {
  const r = rng(seed);
  const admin = jsonHeaders('fuzz-admin');
  const badIds = [
    'x'.repeat(3000),
    '%E0%A4%A',
    '%zz',
    'a%',
    '%00',
    'a%0Ab',
    '%C0%AF',
    encodeURIComponent('x'.repeat(1001)),
  ];
  const idRoutes: [string, string][] = [
    ['GET', '/runs/ID'],
    ['GET', '/runs/ID/result'],
    ['GET', '/runs/ID/steps/s/output'],
    ['GET', '/runs/known/steps/ID/output'],
    ['POST', '/runs/ID/cancel'],
    ['POST', '/runs/ID/retry'],
    ['POST', '/runs/ID/fork'],
    ['POST', '/runs/ID/decisions'],
  ];
  const bodyRoutes = [
    '/runs',
    '/runs/fuzz-none/retry',
    '/runs/fuzz-none/fork',
    '/runs/fuzz-none/decisions',
    '/codec/encode',
    '/codec/decode',
  ];
  const allRoutes: [string, string][] = [
    ['POST', '/runs'],
    ['GET', '/runs'],
    ['GET', '/runs/fuzz-none'],
    ['GET', '/runs/fuzz-none/result'],
    ['GET', '/runs/fuzz-none/steps/a/output'],
    ['POST', '/runs/fuzz-none/cancel'],
    ['POST', '/runs/fuzz-none/retry'],
    ['POST', '/runs/fuzz-none/fork'],
    ['GET', '/approvals'],
    ['POST', '/runs/fuzz-none/decisions'],
    ['POST', '/codec/encode'],
    ['POST', '/codec/decode'],
  ];
  const json = (v: unknown) => JSON.stringify(v);
  const makers: ((r: R) => FuzzRequest)[] = [
    // Bad JSON syntax.
    (r) => {
      const good = json({ definition: validDefinition(), input: 'x' });
      const cut = good.slice(0, 1 + r.int(good.length - 2));
      return {
        kind: 'bad-json',
        method: 'POST',
        path: r.pick(bodyRoutes),
        headers: admin,
        body: r.pick([cut, `${good}}`, "{'a': 1}", '{"a": undefined}', 'NaN', '{"a":1,}', r.str(20)]),
      };
    },
    // JSON that is not an object.
    (r) => ({
      kind: 'not-object',
      method: 'POST',
      path: r.pick(bodyRoutes),
      headers: admin,
      body: r.pick(['[]', '42', '"text"', 'null', 'true', '[{"definition":{}}]']),
    }),
    // Wrong content types.
    (r) => ({
      kind: 'content-type',
      method: 'POST',
      path: r.pick(bodyRoutes),
      headers: {
        authorization: 'Bearer fuzz-admin',
        ...(r.int(5) > 0 && {
          'content-type': r.pick([
            'text/plain',
            'text/html',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=zz',
            'application/xml',
            'application/jsonx',
            'json',
            '',
          ]),
        }),
      },
      body: json({ definition: validDefinition(), input: 'x' }),
    }),
    // Oversized bodies.
    (r) => ({
      kind: 'oversized',
      method: 'POST',
      path: r.pick(bodyRoutes),
      headers: admin,
      body: json({ definition: validDefinition(), input: 'y'.repeat(MAX_BODY + r.int(50_000)) }),
    }),
    // Broken definitions.
    (r) => ({
      kind: 'definition',
      method: 'POST',
      path: '/runs',
      headers: admin,
      body: json({ definition: r.pick(breakDefinition)(r), input: 'x' }),
    }),
    // A broken definition for a retry.
    (r) => ({
      kind: 'retry-definition',
      method: 'POST',
      path: '/runs/fuzz-none/retry',
      headers: admin,
      body: json({ definition: r.pick(breakDefinition)(r) }),
    }),
    // Wrong types and unknown or missing fields of POST /runs.
    (r) => {
      const body: Record<string, unknown> = { definition: validDefinition(), input: 'x' };
      const field = r.pick(['ensemble', 'definition', 'input', 'runId', 'options', 'extra', 'both', 'none']);
      if (field === 'both') body.ensemble = 'name: x';
      else if (field === 'none') delete body.definition;
      else if (field === 'extra') body[r.pick(['by', 'startedBy', '__proto__x', 'definitions'])] = 'x';
      else if (field === 'definition') body.definition = r.pick([42, 'x', [], true]);
      else if (field === 'input') body.input = r.pick([42, {}, [], true, null]);
      else if (field === 'runId')
        body.runId = r.pick([42, '', 'a b', '../x', 'x'.repeat(3000), '-lead', 'a/b', 'é']);
      else if (field === 'options')
        body.options = r.pick([
          { heartbeatTimeout: 'banana' },
          { defaultTimeout: -1 },
          { continueAsNewAfterEvents: 'many' },
          { localActivities: 'yes' },
          [],
          'fast',
        ]);
      else {
        delete body.definition;
        body.ensemble = r.pick([42, '', [], {}]);
      }
      return { kind: `runs-${field}`, method: 'POST', path: '/runs', headers: admin, body: json(body) };
    },
    // Bad YAML ensembles.
    (r) => ({
      kind: 'yaml',
      method: 'POST',
      path: '/runs',
      headers: admin,
      body: json({
        ensemble: r.pick([
          'name: x\nagents:\n  - name: a\n    depends_on: [a]\n    model_profile: offline\n',
          'name: x\nagents:\n  - name: a\n    provider: evil\n    model: m\n',
          'name: x\nagents:\n  - name: a\n    model_profile: offline\n    timeout: banana\n',
          'name: ../../etc/passwd\nagents:\n  - name: a\n    model_profile: offline\n',
          'name: x\nagents:\n  - name: a\n    model_profile: offline\n    prompt: "{{constructor.constructor}}"\n',
          ': : :\n  - [',
          `name: x\nagents: ${r.str(10)}`,
          r.str(40),
        ]),
        input: 'x',
      }),
    }),
    // Fork and decision bodies.
    (r) => ({
      kind: 'fork',
      method: 'POST',
      path: '/runs/fuzz-none/fork',
      headers: admin,
      body: json(
        r.pick([
          {},
          { fromStep: 42 },
          { fromStep: '' },
          { fromStep: 'a', overrides: 'x' },
          { fromStep: 'a', overrides: { model: 'x' } },
          { fromStep: 'a', input: 5 },
          { fromStep: 'a', runId: '../../x' },
          { fromStep: 'a', extra: 1 },
          { fromStep: 'a' },
          { fromStep: 'a', overrides: { profile: { name: 'p', provider: 'evil', model: 'm' } } },
        ]),
      ),
    }),
    (r) => ({
      kind: 'decision',
      method: 'POST',
      path: '/runs/fuzz-none/decisions',
      headers: admin,
      body: json(
        r.pick([
          {},
          { outcome: 'maybe' },
          { outcome: 42 },
          { outcome: 'approved', gate: 5 },
          { outcome: 'approved', editedArguments: 'x' },
          { outcome: 'approved', budget: { maxCostUsd: -1 } },
          { outcome: 'approved', decidedAt: 'yesterday' },
          { outcome: 'approved', comment: {} },
          { outcome: 'approved' },
          { outcome: 'rejected', by: 'mallory' },
        ]),
      ),
    }),
    // Codec bodies.
    (r) => ({
      kind: 'codec',
      method: 'POST',
      path: r.pick(['/codec/encode', '/codec/decode']),
      headers: admin,
      body: json(
        r.pick([
          {},
          { payloads: 'x' },
          { payloads: [1] },
          { payloads: [{ data: 5 }] },
          { payloads: [{ metadata: 'm' }] },
        ]),
      ),
    }),
    // Bad ids and escapes in paths.
    (r) => {
      const [method, template] = r.pick(idRoutes);
      return {
        kind: 'bad-id',
        method,
        path: template.replace('ID', r.pick(badIds)),
        headers: admin,
        ...(method === 'POST' && { body: json({ fromStep: 'a', outcome: 'approved' }) }),
      };
    },
    // Unknown ids with otherwise fine requests (404 from Temporal, never 500).
    (r) => {
      const [method, template] = r.pick(idRoutes.filter(([m]) => m === 'GET'));
      return {
        kind: 'unknown-id',
        method,
        path: template.replace('ID', `fuzz-${r.str(8, 'abcdef0123456789')}`),
        headers: admin,
      };
    },
    // Bad list queries.
    (r) => ({
      kind: 'query',
      method: 'GET',
      path: `/runs?limit=${r.pick(['0', '-1', 'x', '1.5', '100000', '', '1e3', '%zz'])}${r.int(3) ? '' : '&other=1'}`,
      headers: admin,
    }),
    // Wrong methods and unknown paths.
    (r) => {
      const [method, path] = r.pick(allRoutes);
      const other = r.pick(['PUT', 'DELETE', 'PATCH']);
      const unknownPath = r.int(3) === 0;
      return {
        kind: 'method',
        method: unknownPath ? method : other,
        path: unknownPath ? `${path}/${r.pick(['x', 'extra', 'more/depth'])}` : path,
        headers: admin,
      };
    },
    // Missing, wrong or scope-less keys.
    (r) => {
      const [method, path] = r.pick(allRoutes);
      const key = r.pick([
        '',
        'Bearer',
        'Bearer wrong',
        'Basic Zm9vOmJhcg==',
        'Bearer fuzz-admin x',
        'Bearer fuzz-reader',
      ]);
      if (key === 'Bearer fuzz-reader' && method === 'GET')
        return {
          kind: 'auth',
          method: 'POST',
          path: '/runs',
          headers: { 'content-type': 'application/json', authorization: key },
          body: json({ definition: validDefinition(), input: 'x' }),
        };
      return {
        kind: 'auth',
        method,
        path,
        headers: { 'content-type': 'application/json', ...(key && { authorization: key }) },
        ...(method === 'POST' && { body: json({ definition: validDefinition(), input: 'x' }) }),
      };
    },
    // Foreign browser origins.
    (r) => {
      const [method, path] = r.pick(allRoutes);
      return {
        kind: 'origin',
        method,
        path,
        headers: {
          ...admin,
          ...(r.int(2)
            ? {
                origin: r.pick([
                  'http://evil.example',
                  'null',
                  'http://localhost:8233',
                  'https://127.0.0.1.evil',
                ]),
              }
            : { 'sec-fetch-site': r.pick(['cross-site', 'same-site']) }),
        },
        ...(method === 'POST' && { body: json({ definition: validDefinition(), input: 'x' }) }),
      };
    },
  ];
  const out: FuzzRequest[] = [];
  for (let i = 0; i < n; i++) out.push(r.pick(makers)(r));
  return out;
}

/** The UI origin is allowed on the codec routes, where a body defect must still be refused. */
function mayPass(q: FuzzRequest): boolean {
  return q.path.startsWith('/codec/') && q.headers.origin === 'http://localhost:8233' && q.kind === 'origin';
}

test('2,000 malformed requests over every route: each a 4xx with a message, none starts a run', async () => {
  const requests = generate(20261201, 2400).filter((q) => !mayPass(q));
  expect(requests.length).toBeGreaterThanOrEqual(2000);
  const before = (await h.baton.temporal.workflow.count(`TaskQueue = '${h.taskQueue}'`)).count;

  const statuses = new Map<number, number>();
  const kinds = new Set<string>();
  const wrong: string[] = [];
  for (let i = 0; i < requests.length; i += 16) {
    const batch = requests.slice(i, i + 16);
    const answers = await Promise.all(
      batch.map((q) =>
        raw(base, q.method, q.path, { headers: q.headers, ...(q.body !== undefined && { body: q.body }) }),
      ),
    );
    answers.forEach((a, j) => {
      const q = batch[j]!;
      kinds.add(q.kind);
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status < 400 || a.status >= 500 || typeof a.json?.error !== 'string' || a.json.error === '')
        wrong.push(`${q.kind} ${q.method} ${q.path.slice(0, 80)} -> ${a.status} ${a.text.slice(0, 200)}`);
    });
  }
  expect(wrong).toEqual([]);
  // Every kind of defect was sent, and the refusals used the statuses they should.
  expect(kinds.size).toBeGreaterThanOrEqual(20);
  for (const status of [400, 401, 403, 404, 405, 413, 415])
    expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
  expect(statuses.get(500) ?? 0).toBe(0);

  await new Promise((r) => setTimeout(r, 1000)); // visibility is eventually consistent
  expect((await h.baton.temporal.workflow.count(`TaskQueue = '${h.taskQueue}'`)).count).toBe(before);
  expect((await raw(base, 'GET', '/healthz')).json).toEqual({ ok: true });
  expect((await raw(base, 'GET', '/runs', { headers: jsonHeaders('fuzz-reader') })).status).toBe(200);
}, 300_000);
