/**
 * `baton api` with BATON_CODEC_KEYS set is the codec server of the Temporal UI and CLI:
 * POST /codec/encode and /codec/decode behind the API's authentication, with CORS for the
 * Temporal UI's origin. Runs the real binary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

let api: ChildProcess;
let base: string;
const TOKEN = 'codec-test-token';
const keys = `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`;

beforeAll(async () => {
  const { address, namespace } = testTemporal();
  api = spawn(process.execPath, [BIN, 'api', '--port', '0'], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      BATON_API_TOKEN: TOKEN,
      BATON_CODEC_KEYS: keys,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  base = await new Promise<string>((resolve, reject) => {
    let err = '';
    api.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[^\s;(]+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    api.once('exit', (code) => reject(new Error(`baton api exited ${code}: ${err}`)));
  });
});

afterAll(() => {
  api?.kill('SIGTERM');
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body: JSON.stringify(body),
  });

test('encode seals a payload with the first key; decode opens it; both need a key and the right scope', async () => {
  const plain = { metadata: { encoding: b64('json/plain') }, data: b64('"a prompt nobody should read"') };
  const enc = await post('/codec/encode', { payloads: [plain] });
  expect(enc.status).toBe(200);
  const sealed = (await enc.json()) as {
    payloads: Array<{ metadata: Record<string, string>; data: string }>;
  };
  expect(unb64(sealed.payloads[0]!.metadata['encryption-key-id']!)).toBe('k2');
  expect(Buffer.from(sealed.payloads[0]!.data, 'base64').toString('latin1')).not.toContain('nobody');

  const dec = await post('/codec/decode', sealed);
  expect(dec.status).toBe(200);
  const opened = (await dec.json()) as {
    payloads: Array<{ metadata: Record<string, string>; data: string }>;
  };
  expect(unb64(opened.payloads[0]!.data)).toBe('"a prompt nobody should read"');
  expect(unb64(opened.payloads[0]!.metadata.encoding!)).toBe('json/plain');

  const anonymous = await fetch(`${base}/codec/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(sealed),
  });
  expect(anonymous.status).toBe(401);

  const malformed = await post('/codec/decode', { payloads: 'nope' });
  expect(malformed.status).toBe(400);
});

test('the Temporal UI origin may call the codec routes from a browser; another origin may not', async () => {
  const preflight = (origin: string) =>
    fetch(`${base}/codec/decode`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
  const ui = await preflight('http://localhost:8233');
  expect(ui.status).toBeLessThan(300);
  expect(ui.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
  const evil = await preflight('http://evil.example');
  expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  expect(evil.status).toBeGreaterThanOrEqual(400);
});
