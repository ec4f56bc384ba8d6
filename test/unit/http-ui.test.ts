import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BatonClient } from '../../src/client';
import { createApi } from '../../src/http/server';

/** A built page in a temporary folder (what `npm run build:ui` leaves in ui/dist). */
function fakeBuild(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-ui-'));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Baton</title>');
  fs.writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, '..', `${path.basename(dir)}-secret.txt`), 'outside');
  return dir;
}

const app = (opts: Parameters<typeof createApi>[1]) =>
  createApi(undefined as unknown as BatonClient, { env: {}, ...opts });

test('/ redirects to /ui/, which serves the page without a key, with a strict content security policy', async () => {
  const dir = fakeBuild();
  const api = app({ token: 'k', uiDir: dir });
  const root = await api.request('/');
  expect(root.status).toBe(302);
  expect(root.headers.get('location')).toBe('/ui/');
  expect((await api.request('/ui')).headers.get('location')).toBe('/ui/');
  const page = await api.request('/ui/');
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
  expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(page.headers.get('cache-control')).toBe('no-cache');
  expect(await page.text()).toContain('<title>Baton</title>');
  const js = await api.request('/ui/assets/index-abc.js');
  expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  expect(js.headers.get('cache-control')).toContain('immutable');
  // The data is not: the JSON routes still need the key.
  expect((await api.request('/runs')).status).toBe(401);
});

test('/ui/ serves only files of the build: no climbing out, 404 for what is not there', async () => {
  const dir = fakeBuild();
  const api = app({ token: 'k', uiDir: dir });
  expect((await api.request('/ui/nope.js')).status).toBe(404);
  expect((await api.request(`/ui/..%2F${path.basename(dir)}-secret.txt`)).status).toBe(404);
  // URL parsing turns a dotted segment into a path outside /ui/, where a key is needed.
  const dotted = await api.request(`/ui/%2e%2e/${path.basename(dir)}-secret.txt`);
  expect(dotted.status).toBe(401);
  expect(await dotted.text()).not.toContain('outside');
  expect((await api.request('/ui/assets')).status).toBe(404);
});

test('without a build, /ui/ answers 503 saying which command builds it; the API works on', async () => {
  const missing = path.join(os.tmpdir(), `baton-no-ui-${process.pid}`);
  const api = app({ uiDir: missing });
  const res = await api.request('/ui/');
  expect(res.status).toBe(503);
  expect(await res.text()).toMatch(/the web UI is not built \(no .*index\.html\): run `npm run build`/);
  expect((await api.request('/openapi.json')).status).toBe(200);
  // BATON_UI_DIR names the folder too.
  const viaEnv = createApi(undefined as unknown as BatonClient, { env: { BATON_UI_DIR: missing } });
  expect((await viaEnv.request('/ui/')).status).toBe(503);
});

test('uiDir false serves no page: / is not found', async () => {
  expect((await app({ uiDir: false }).request('/')).status).toBe(404);
});
