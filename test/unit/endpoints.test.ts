import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import {
  allowancesFor,
  EndpointPolicy,
  EndpointSettingsError,
  loadWorkerConfig,
  parseAllowedEndpoints,
} from '../../src/activities/endpoints';
import { ProviderRegistry } from '../../src/activities/providers';
import { BUILTIN_PROFILES } from '../../src/config/profiles';
import type { ModelProfile } from '../../src/types';

const oa = (over: Partial<ModelProfile> = {}): ModelProfile => ({
  name: 'p',
  provider: 'openai',
  model: 'm',
  ...over,
});

/** The failure `check` throws, or undefined when the profile is allowed. */
function refusal(policy: EndpointPolicy, profile: ModelProfile): ApplicationFailure | undefined {
  try {
    policy.check(profile);
    return undefined;
  } catch (e) {
    return e as ApplicationFailure;
  }
}

test('by default a key goes only to its own provider host', () => {
  const p = EndpointPolicy.fromEnv({});
  expect(refusal(p, oa())).toBeUndefined(); // https://api.openai.com/v1 with OPENAI_API_KEY
  expect(refusal(p, oa({ provider: 'anthropic' }))).toBeUndefined();
  expect(refusal(p, oa({ baseURL: 'https://API.OpenAI.com:443/v1/' }))).toBeUndefined();
  // Another provider's key to a provider host is refused.
  expect(refusal(p, oa({ apiKeyEnv: 'ANTHROPIC_API_KEY' }))?.type).toBe('EndpointNotAllowed');
  expect(refusal(p, oa({ provider: 'anthropic', baseURL: 'https://api.openai.com' }))?.type).toBe(
    'EndpointNotAllowed',
  );
  expect(refusal(p, oa({ apiKeyEnv: 'TEMPORAL_API_KEY' }))?.type).toBe('EndpointNotAllowed');
});

test('ANTHROPIC_BASE_URL is allowed with ANTHROPIC_API_KEY only', () => {
  const p = EndpointPolicy.fromEnv({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:9999' });
  const an = oa({ provider: 'anthropic' });
  expect(refusal(p, an)).toBeUndefined();
  expect(refusal(p, { ...an, baseURL: 'http://127.0.0.1:9999' })).toBeUndefined();
  expect(refusal(p, oa({ baseURL: 'http://127.0.0.1:9999' }))?.type).toBe('EndpointNotAllowed');
});

test('origins are compared whole (scheme, host, port, path prefix), never as substrings', () => {
  const p = EndpointPolicy.fromEnv({ OPENAI_BASE_URL: 'http://127.0.0.1:1234/v1' });
  for (const ok of [
    'http://127.0.0.1:1234/v1',
    'http://127.0.0.1:1234/v1/',
    'http://127.0.0.1:1234/v1/deployments/x',
    'https://api.openai.com/v1',
  ])
    expect(refusal(p, oa({ baseURL: ok }))).toBeUndefined();
  for (const bad of [
    'https://api.openai.com.evil.example/v1',
    'https://evil.example/api.openai.com/v1',
    'https://evil.example/https://api.openai.com',
    'http://api.openai.com/v1', // scheme
    'https://api.openai.com:8443/v1', // port
    'https://127.0.0.1:1234/v1', // scheme
    'http://127.0.0.1:1235/v1', // port
    'http://127.0.0.1:1234/v1x',
    'http://127.0.0.1:1234/v2',
    'http://127.0.0.1:1234/v1/../admin',
    'http://localhost:1234/v1', // another spelling is another host
    'http://169.254.169.254/latest/meta-data',
    'file:///etc/passwd',
  ]) {
    const f = refusal(p, oa({ baseURL: bad }));
    expect([bad, f?.type]).toEqual([bad, 'EndpointNotAllowed']);
    expect(f?.nonRetryable).toBe(true);
  }
});

test('the message names the endpoint, the key variable and the setting, never the key', () => {
  const env = { OPENAI_API_KEY: 'sk-live-SECRET', TEAM_API_KEY: 'sk-team-SECRET' };
  const p = EndpointPolicy.fromEnv(env);
  const f = refusal(p, oa({ name: 'evil', baseURL: 'https://evil.example:8443/v1' }))!;
  expect(f.message).toMatch(
    /profile 'evil' \(openai\) would send OPENAI_API_KEY to https:\/\/evil\.example:8443\/v1, an endpoint this worker does not call; nothing was sent/,
  );
  expect(f.message).toContain('add https://evil.example:8443/v1=OPENAI_API_KEY to BATON_ALLOWED_ENDPOINTS');
  expect(f.message).toContain('baton worker --config');
  const g = refusal(p, oa({ apiKeyEnv: 'TEAM_API_KEY' }))!;
  expect(g.message).toMatch(/this worker does not hand TEAM_API_KEY to that endpoint/);
  for (const m of [f.message, g.message]) expect(m).not.toMatch(/SECRET/);
});

test('an endpoint without a key is checked too: a foreign base_url needs an allowance (SSRF)', () => {
  const local = oa({ name: 'local', provider: 'openai-compatible', baseURL: 'http://10.0.0.5:8000/v1' });
  const f = refusal(EndpointPolicy.fromEnv({}), local)!;
  expect(f.type).toBe('EndpointNotAllowed');
  expect(f.message).toMatch(
    /names http:\/\/10\.0\.0\.5:8000\/v1, an endpoint this worker does not call \(even without a key\)/,
  );
  expect(f.message).toContain('add http://10.0.0.5:8000/v1 to BATON_ALLOWED_ENDPOINTS');
  const allowed = EndpointPolicy.fromEnv({ BATON_ALLOWED_ENDPOINTS: 'http://10.0.0.5:8000' });
  expect(refusal(allowed, local)).toBeUndefined();
  // A keyless entry does not let a key through.
  expect(refusal(allowed, { ...local, apiKeyEnv: 'OPENAI_API_KEY' })?.type).toBe('EndpointNotAllowed');
  // The built-in ollama profile is a keyless foreign endpoint too, until allowed.
  expect(refusal(EndpointPolicy.fromEnv({}), BUILTIN_PROFILES.ollama!)?.type).toBe('EndpointNotAllowed');
  expect(
    refusal(
      EndpointPolicy.fromEnv({ BATON_ALLOWED_ENDPOINTS: 'http://127.0.0.1:11434' }),
      BUILTIN_PROFILES.ollama!,
    ),
  ).toBeUndefined();
  // The offline provider calls nothing and needs nothing.
  expect(refusal(EndpointPolicy.fromEnv({}), oa({ provider: 'offline' }))).toBeUndefined();
});

test('BATON_ALLOWED_ENDPOINTS binds each endpoint to the key variables it may receive', () => {
  const entries = parseAllowedEndpoints(
    ' https://llm.internal:8443/v1=INTERNAL_API_KEY,OTHER_API_KEY;http://127.0.0.1:11434\n https://b.example=B_KEY ',
  );
  expect(entries.map((e) => [e.url, e.keys])).toEqual([
    ['https://llm.internal:8443/v1', ['INTERNAL_API_KEY', 'OTHER_API_KEY']],
    ['http://127.0.0.1:11434', []],
    ['https://b.example', ['B_KEY']],
  ]);
  const p = EndpointPolicy.fromEnv({
    BATON_ALLOWED_ENDPOINTS: 'https://llm.internal:8443/v1=INTERNAL_API_KEY,OTHER_API_KEY',
  });
  const internal = oa({ baseURL: 'https://llm.internal:8443/v1', apiKeyEnv: 'INTERNAL_API_KEY' });
  expect(refusal(p, internal)).toBeUndefined();
  expect(refusal(p, { ...internal, apiKeyEnv: 'OTHER_API_KEY' })).toBeUndefined();
  expect(refusal(p, { ...internal, apiKeyEnv: 'OPENAI_API_KEY' })?.type).toBe('EndpointNotAllowed');
  expect(refusal(p, { ...internal, baseURL: 'https://llm.internal/v1' })?.type).toBe('EndpointNotAllowed');
});

test('malformed endpoint settings are refused with the setting and the entry named', () => {
  const bad = (text: string) => () => EndpointPolicy.fromEnv({ BATON_ALLOWED_ENDPOINTS: text });
  expect(bad('llm.internal=KEY')).toThrow(/BATON_ALLOWED_ENDPOINTS: 'llm.internal' is not an http\(s\) URL/);
  expect(bad('https://x.example=')).toThrow(/has '=' but no key variable/);
  expect(bad('https://x.example=my-key')).toThrow(/'my-key' is not the name of an environment variable/);
  expect(bad('https://x.example/?k=v=KEY')).toThrow(/must not carry a user, password, query or fragment/);
  expect(bad('https://x.example=A_KEY, B_KEY')).toThrow(EndpointSettingsError);
  // OPENAI_BASE_URL that is not a URL allows nothing: the call through it is refused, naming it.
  expect(refusal(EndpointPolicy.fromEnv({ OPENAI_BASE_URL: 'not a url' }), oa())?.message).toMatch(
    /would send OPENAI_API_KEY to not a url, an endpoint this worker does not call/,
  );
  // One with a query (Azure's api-version) is compared without it.
  const azure = EndpointPolicy.fromEnv({
    OPENAI_BASE_URL: 'https://x.openai.azure.com/openai?api-version=1',
  });
  expect(refusal(azure, oa())).toBeUndefined();
  expect(refusal(azure, oa({ baseURL: 'https://x.openai.azure.com/openai/deployments/d' }))).toBeUndefined();
});

test('a worker config file lists endpoints with their keys; mistakes name the file and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-endpoints-'));
  const file = join(dir, 'worker.yaml');
  writeFileSync(
    file,
    'allowed_endpoints:\n  - url: https://llm.internal:8443/v1\n    keys: [INTERNAL_API_KEY]\n  - url: http://127.0.0.1:11434\n',
  );
  const { allowedEndpoints } = loadWorkerConfig(file);
  expect(allowedEndpoints.map((e) => [e.url, e.keys])).toEqual([
    ['https://llm.internal:8443/v1', ['INTERNAL_API_KEY']],
    ['http://127.0.0.1:11434', []],
  ]);
  const p = EndpointPolicy.fromEnv({}, allowedEndpoints);
  expect(
    refusal(p, oa({ baseURL: 'https://llm.internal:8443/v1/', apiKeyEnv: 'INTERNAL_API_KEY' })),
  ).toBeUndefined();
  writeFileSync(file, 'allowed_endpoints:\n  - url: https://ok.example\n  - url: ftp://x\n');
  expect(() => loadWorkerConfig(file)).toThrow(
    `worker config ${file}: allowed_endpoints.1: 'ftp://x' is not an http(s) URL`,
  );
  writeFileSync(file, 'allowed_endpoints:\n  - uri: https://x.example\n');
  expect(() => loadWorkerConfig(file)).toThrow(
    new RegExp(`worker config .*worker.yaml: allowed_endpoints.0.url: Invalid input`),
  );
  expect(() => loadWorkerConfig(join(dir, 'missing.yaml'))).toThrow(/cannot read it/);
  const json = join(dir, 'worker.json');
  writeFileSync(
    json,
    JSON.stringify({ allowed_endpoints: [{ url: 'https://j.example', keys: ['J_API_KEY'] }] }),
  );
  expect(loadWorkerConfig(json).allowedEndpoints.map((e) => [e.url, e.keys])).toEqual([
    ['https://j.example', ['J_API_KEY']],
  ]);
});

test('the provider factory checks the endpoint before it reads the key', () => {
  const read: string[] = [];
  const env = new Proxy({ OPENAI_API_KEY: 'sk-live-SECRET' } as NodeJS.ProcessEnv, {
    get(target, name: string) {
      read.push(name);
      return target[name];
    },
  });
  const registry = new ProviderRegistry(env);
  read.length = 0;
  expect(() => registry.get(oa({ baseURL: 'https://evil.example/v1' }))).toThrow(
    /would send OPENAI_API_KEY to https:\/\/evil\.example\/v1/,
  );
  expect(read).not.toContain('OPENAI_API_KEY');
  expect(registry.get(oa()).name).toBe('openai');
  expect(read).toContain('OPENAI_API_KEY');
});

test('what a local run names becomes allowances, only where the environment does not already allow it', () => {
  const env = { OPENAI_BASE_URL: 'http://127.0.0.1:1234/v1' };
  const wanted = allowancesFor(
    [
      oa({ name: 'env' }),
      oa({ name: 'far', baseURL: 'https://far.example/v1', apiKeyEnv: 'FAR_API_KEY' }),
      oa({ name: 'ollama', provider: 'openai-compatible', baseURL: 'http://127.0.0.1:11434/v1' }),
      oa({ name: 'off', provider: 'offline' }),
    ],
    env,
    'ensemble x',
  );
  const missing = EndpointPolicy.fromEnv(env).missing(wanted);
  expect(missing.map((m) => [m.profile, m.url, m.keys])).toEqual([
    ['far', 'https://far.example/v1', ['FAR_API_KEY']],
    ['ollama', 'http://127.0.0.1:11434/v1', []],
  ]);
  const widened = EndpointPolicy.fromEnv(env, missing);
  expect(
    refusal(widened, oa({ baseURL: 'https://far.example/v1', apiKeyEnv: 'FAR_API_KEY' })),
  ).toBeUndefined();
  expect(refusal(widened, oa({ baseURL: 'https://far.example/v1' }))?.type).toBe('EndpointNotAllowed');
});
