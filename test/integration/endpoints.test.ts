/**
 * A worker sends a key only where its operator allowed (docs/security.md, "Keys and endpoints").
 * A "foreign endpoint" (a capture server no setting allows) records every header it receives;
 * runs that name it, over the typed client, HTTP and the CLI, fail with EndpointNotAllowed and it
 * receives nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFailedError } from '../../src/client';
import { chain } from '../../src/define';
import { createHttpServer } from '../../src/http/server';
import type { ModelProfile } from '../../src/types';
import { CaptureServer } from '../support/capture-server';
import { fakeEnv, startHarness, type Harness } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const SECRETS = {
  OPENAI_API_KEY: 'sk-worker-openai-SECRET',
  ANTHROPIC_API_KEY: 'sk-worker-anthropic-SECRET',
  INTERNAL_API_KEY: 'sk-worker-internal-SECRET',
  OTHER_API_KEY: 'sk-worker-other-SECRET',
};

let h: Harness;
let foreign: CaptureServer;
let allowed: CaptureServer;
let http: Server;
let api: string;

beforeAll(async () => {
  foreign = await CaptureServer.start('FOREIGN');
  allowed = await CaptureServer.start('INTERNAL');
  h = await startHarness({
    env: (fake) => ({
      ...fakeEnv(fake),
      ...SECRETS,
      BATON_ALLOWED_ENDPOINTS: `${allowed.url}/v1=INTERNAL_API_KEY,UNSET_API_KEY; ${allowed.url}/keyless; ${allowed.url}/redirect=INTERNAL_API_KEY,ANTHROPIC_API_KEY`,
    }),
  });
  http = createHttpServer(h.baton, { token: 'secret' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  api = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => http?.close(r));
  await h?.close();
  await foreign?.close();
  await allowed?.close();
});
beforeEach(() => {
  h.fake.reset();
  foreign.reset();
  allowed.reset();
});

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
const profile = (over: Partial<ModelProfile>): ModelProfile => ({
  name: 'far',
  provider: 'openai',
  model: 'gpt-test',
  ...over,
});

/** Run a one-step chain over the typed client; resolves with the failure (or the result). */
async function runWith(p: ModelProfile) {
  const def = chain('endpoint', [{ name: 'a', profile: p, prompt: 'hello {{input}}' }]);
  return h.baton.run(def, 'x', { runId: id('endpoint') }).catch((e: unknown) => e as RunFailedError);
}

function expectNoSecretIn(text: string): void {
  for (const v of Object.values(SECRETS)) expect(text).not.toContain(v);
}

describe('over the typed client, a run naming a foreign endpoint fails before any request', () => {
  test.each([
    ['openai with the default key', profile({}), 'OPENAI_API_KEY'],
    ['openai with a key bound elsewhere', profile({ apiKeyEnv: 'INTERNAL_API_KEY' }), 'INTERNAL_API_KEY'],
    ['anthropic (x-api-key)', profile({ provider: 'anthropic', model: 'claude-test' }), 'ANTHROPIC_API_KEY'],
    ['openai-compatible without a key (SSRF)', profile({ provider: 'openai-compatible' }), undefined],
  ])('%s', async (_, p, keyEnv) => {
    const base = p.provider === 'anthropic' ? foreign.url : `${foreign.url}/v1`;
    const err = await runWith({ ...p, baseURL: base });
    expect(err).toBeInstanceOf(RunFailedError);
    const failed = err as RunFailedError;
    const step = failed.progress?.steps.find((s) => s.name === 'a');
    expect(step?.error?.type).toBe('EndpointNotAllowed');
    expect(failed.message).toContain(base);
    expect(failed.message).toContain('BATON_ALLOWED_ENDPOINTS');
    if (keyEnv) expect(failed.message).toContain(`would send ${keyEnv} to ${base}`);
    else expect(failed.message).toContain('does not call (even without a key)');
    expectNoSecretIn(JSON.stringify(failed.progress) + failed.message);
    // Not retried, and nothing reached the foreign endpoint.
    expect(step?.attempts ?? 1).toBe(1);
    expect(foreign.requests).toHaveLength(0);
  });
});

test('OPENAI_BASE_URL in the worker environment is allowed with OPENAI_API_KEY', async () => {
  h.fake.on('hello', { text: 'FROM-FAKE' });
  const result = await h.baton.run(
    chain('env-base', [{ name: 'a', profile: profile({}), prompt: 'hello {{input}}' }]),
    'x',
    { runId: id('env-base') },
  );
  expect(result.output).toBe('FROM-FAKE');
  expect(h.fake.requests[0]?.headers.authorization).toBe(`Bearer ${SECRETS.OPENAI_API_KEY}`);
});

test('an endpoint from BATON_ALLOWED_ENDPOINTS receives only its bound key; another key for it fails', async () => {
  const ok = await runWith(profile({ baseURL: `${allowed.url}/v1`, apiKeyEnv: 'INTERNAL_API_KEY' }));
  expect(ok).not.toBeInstanceOf(Error);
  expect(allowed.requests).toHaveLength(1);
  expect(allowed.requests[0]!.headers.authorization).toBe(`Bearer ${SECRETS.INTERNAL_API_KEY}`);
  const { INTERNAL_API_KEY: _, ...others } = SECRETS;
  for (const v of Object.values(others)) expect(allowed.allHeaderText()).not.toContain(v);

  allowed.reset();
  const err = (await runWith(
    profile({ baseURL: `${allowed.url}/v1`, apiKeyEnv: 'OTHER_API_KEY' }),
  )) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.progress?.steps[0]?.error?.type).toBe('EndpointNotAllowed');
  expect(err.message).toContain(
    `would send OTHER_API_KEY to ${allowed.url}/v1, and this worker does not hand OTHER_API_KEY to that endpoint`,
  );
  // The allowance is for the path it names, too.
  const elsewhere = (await runWith(
    profile({ baseURL: `${allowed.url}/admin`, apiKeyEnv: 'INTERNAL_API_KEY' }),
  )) as RunFailedError;
  expect(elsewhere.progress?.steps[0]?.error?.type).toBe('EndpointNotAllowed');
  expect(allowed.requests).toHaveLength(0);
});

test('a key bound to an allowed endpoint but unset on the worker fails at once with what to set', async () => {
  const err = (await runWith(
    profile({ baseURL: `${allowed.url}/v1`, apiKeyEnv: 'UNSET_API_KEY' }),
  )) as RunFailedError;
  expect(err.progress?.steps[0]?.error?.type).toBe('ModelConfigError');
  expect(err.message).toMatch(/UNSET_API_KEY is not set in the worker's environment/);
  expect(allowed.requests).toHaveLength(0);
});

test('a keyless endpoint listed without keys is called, with no key', async () => {
  const result = await h.baton.run(
    chain('keyless', [
      {
        name: 'a',
        profile: profile({ provider: 'openai-compatible', baseURL: `${allowed.url}/keyless/v1` }),
        prompt: 'hello {{input}}',
      },
    ]),
    'x',
    { runId: id('keyless') },
  );
  expect(result.output).toBe('INTERNAL');
  expect(allowed.requests).toHaveLength(1);
  expect(allowed.requests[0]!.headers.authorization).toBe('Bearer not-needed');
  expectNoSecretIn(allowed.allHeaderText());
});

test('a redirect from an allowed endpoint is not followed: the key does not reach where it points', async () => {
  allowed.redirectTo = foreign.url;
  try {
    for (const p of [
      profile({ baseURL: `${allowed.url}/redirect/v1`, apiKeyEnv: 'INTERNAL_API_KEY' }),
      profile({ provider: 'anthropic', model: 'claude-test', baseURL: `${allowed.url}/redirect` }),
    ]) {
      const err = (await runWith(p)) as RunFailedError;
      expect(err).toBeInstanceOf(RunFailedError);
      expect(err.progress?.steps[0]?.error?.type).toBe('ModelBadRequest');
      expect(err.message).toMatch(/HTTP 307/);
    }
    expect(allowed.requests).toHaveLength(2);
    expect(foreign.requests).toHaveLength(0);
  } finally {
    allowed.redirectTo = undefined;
  }
});

describe('over HTTP (POST /runs), a foreign endpoint fails the run and receives nothing', () => {
  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, text: await res.text() };
  }
  const yaml = (extra: string) =>
    `name: far\nprofiles:\n  far:\n    provider: openai\n    model: gpt-test\n    base_url: ${foreign.url}/v1\n${extra}default_profile: far\nagents:\n  - name: a\n    prompt: "hello {{input}}"\n`;

  test.each([
    [
      'an inline definition',
      () => ({
        definition: chain('far', [
          { name: 'a', profile: profile({ baseURL: `${foreign.url}/v1` }), prompt: 'hi {{input}}' },
        ]),
      }),
      'OPENAI_API_KEY',
    ],
    ['YAML text', () => ({ ensemble: yaml('') }), 'OPENAI_API_KEY'],
    [
      'YAML with an explicit api_key_env',
      () => ({ ensemble: yaml('    api_key_env: INTERNAL_API_KEY\n') }),
      'INTERNAL_API_KEY',
    ],
  ])('%s', async (_, body, keyEnv) => {
    const started = await call('POST', '/runs', { ...body(), input: 'x', runId: id('http-far') });
    expect(started.status).toBe(201);
    const { runId } = JSON.parse(started.text) as { runId: string };
    const result = await call('GET', `/runs/${encodeURIComponent(runId)}/result`);
    expect(result.status).toBe(422);
    const parsed = JSON.parse(result.text) as {
      step: string;
      progress: { steps: { error?: { type: string } }[] };
      error: string;
    };
    expect(parsed.step).toBe('a');
    expect(parsed.progress.steps[0]?.error?.type).toBe('EndpointNotAllowed');
    expect(parsed.error).toContain(`would send ${keyEnv} to ${foreign.url}/v1`);
    expectNoSecretIn(result.text);
    expect(foreign.requests).toHaveLength(0);
  });
});

describe('the CLI', () => {
  const ROOT = join(__dirname, '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'baton-endpoints-'));
  function baton(args: string[], env: NodeJS.ProcessEnv) {
    const { address, namespace } = testTemporal();
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'baton.js'), ...args], {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          BATON_FROM_SOURCE: '1',
          TEMPORAL_ADDRESS: address,
          TEMPORAL_NAMESPACE: namespace,
          ...env,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end('');
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }
  const farYaml = () => {
    const file = join(dir, 'far.yaml');
    writeFileSync(
      file,
      `name: far\nprofiles:\n  far: { provider: openai, model: gpt-test, base_url: "${foreign.url}/v1" }\ndefault_profile: far\nagents:\n  - name: a\n    prompt: "hello {{input}}"\n`,
    );
    return file;
  };

  test('baton run against a remote worker: a YAML naming a foreign base_url fails with EndpointNotAllowed (exit 1)', async () => {
    const r = await baton(
      ['run', farYaml(), 'x', '--no-local-worker', '--task-queue', h.taskQueue, '-o', 'json'],
      {
        OPENAI_API_KEY: 'sk-cli-SECRET',
      },
    );
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { progress: { steps: { error?: { type: string } }[] } };
    expect(out.progress.steps[0]?.error?.type).toBe('EndpointNotAllowed');
    expect(r.stderr).toContain(`would send OPENAI_API_KEY to ${foreign.url}/v1`);
    expect(r.stderr).toContain('BATON_ALLOWED_ENDPOINTS');
    expect(r.stderr).not.toContain('the local worker allows');
    expectNoSecretIn(r.stderr + r.stdout);
    expect(foreign.requests).toHaveLength(0);
  });

  test('baton worker refuses malformed endpoint settings before connecting (exit 2), naming them', async () => {
    const bad = await baton(['worker'], { BATON_ALLOWED_ENDPOINTS: 'llm.internal=INTERNAL_API_KEY' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/BATON_ALLOWED_ENDPOINTS: 'llm.internal' is not an http\(s\) URL/);
    const file = join(dir, 'bad-worker.yaml');
    writeFileSync(file, 'allowed_endpoints:\n  - url: https://ok.example\n    keys: [lower-case]\n');
    const badFile = await baton(['worker', '--config', file], {});
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toContain(
      `worker config ${file}: allowed_endpoints.0: 'lower-case' is not the name`,
    );
  });

  test('baton worker --config adds endpoints and prints every endpoint it may call; --help says how', async () => {
    const help = await baton(['worker', '--help'], {});
    expect(help.stdout).toContain('--config <file>');
    expect(help.stdout).toContain('BATON_ALLOWED_ENDPOINTS=');
    expect(help.stdout).toContain('EndpointNotAllowed');
    const file = join(dir, 'worker.yaml');
    writeFileSync(
      file,
      'allowed_endpoints:\n  - { url: "https://llm.internal:8443/v1", keys: [INTERNAL_API_KEY] }\n',
    );
    const { address, namespace } = testTemporal();
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'baton.js'), 'worker', '--config', file, '--task-queue', id('cli-config')],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          BATON_FROM_SOURCE: '1',
          TEMPORAL_ADDRESS: address,
          TEMPORAL_NAMESPACE: namespace,
          OPENAI_BASE_URL: 'http://127.0.0.1:1/v1',
          OPENAI_API_KEY: 'sk-cli-SECRET',
          BATON_ALLOWED_ENDPOINTS: 'http://127.0.0.1:11434',
        },
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(
        () => stderr.includes('model calls may go to') && (clearInterval(timer), resolve()),
        100,
      );
      child.once(
        'exit',
        (code) => (clearInterval(timer), reject(new Error(`worker exited (${code}): ${stderr}`))),
      );
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    expect(stderr).toContain(
      'baton worker: model calls may go to https://api.openai.com (OPENAI_API_KEY), https://api.anthropic.com (ANTHROPIC_API_KEY), ' +
        'https://generativelanguage.googleapis.com (GEMINI_API_KEY, GOOGLE_API_KEY), ' +
        'http://127.0.0.1:1/v1 (OPENAI_API_KEY), http://127.0.0.1:11434 (no key), https://llm.internal:8443/v1 (INTERNAL_API_KEY)\n',
    );
    expect(stderr).not.toContain('SECRET');
  });

  test('baton run with its own local worker allows what the YAML names, and says so once', async () => {
    const r = await baton(
      ['run', farYaml(), 'x', '--local-worker', '--task-queue', id('local-far'), '-o', 'text'],
      { OPENAI_API_KEY: 'sk-cli-SECRET' },
    );
    expect(r.stderr).toBe(
      `baton: the local worker allows what this ensemble names: OPENAI_API_KEY to ${foreign.url}/v1 (profile 'far'). ` +
        'A shared worker (`baton worker`) refuses these unless its operator allows them (BATON_ALLOWED_ENDPOINTS; see docs/security.md).\n',
    );
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('FOREIGN');
    expect(foreign.requests).toHaveLength(1);
    expect(foreign.requests[0]!.headers.authorization).toBe('Bearer sk-cli-SECRET');
  });
});
