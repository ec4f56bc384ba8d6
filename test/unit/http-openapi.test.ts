import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatonClient } from '../../src/client';
import { createApi, openApiDocument } from '../../src/http/server';

/** `METHOD /path` of every row of the routes table in docs/http-api.md, as `post /runs/{id}`. */
function documentedRoutes(): string[] {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'http-api.md'), 'utf8');
  const routes = doc.slice(doc.indexOf('## Routes'), doc.indexOf('## Errors'));
  return [...routes.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) ([^`?]+)[^`]*`/gm)].map(
    ([, method, path]) => `${method!.toLowerCase()} ${path!.replace(/:(\w+)/g, '{$1}')}`,
  );
}

test('docs/http-api.md lists every route and method of the OpenAPI document, and nothing else', () => {
  const doc = openApiDocument();
  const served = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method} ${path}`),
  );
  served.push('get /openapi.json');
  expect(documentedRoutes().sort()).toEqual(served.sort());
  expect(served.length).toBeGreaterThanOrEqual(14);
});

test('GET /openapi.json serves the document without a key; the schemas name the fields', async () => {
  const app = createApi(undefined as unknown as BatonClient, { token: 'k', env: {} });
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  const doc = (await res.json()) as any;
  expect(doc.openapi).toBe('3.1.0');
  const start = doc.paths['/runs'].post;
  expect(start.security).toEqual([{ bearerAuth: [] }]);
  const body = start.requestBody.content['application/json'].schema;
  expect(Object.keys(body.properties)).toEqual(
    expect.arrayContaining(['ensemble', 'definition', 'input', 'runId', 'options']),
  );
  expect(JSON.stringify(body.properties.definition)).toMatch(/openai-compatible/);
  expect(doc.paths['/runs/{id}/decisions'].post.description).toMatch(/scope `decide`/);
  // Without the codec the codec routes are absent; the other routes need a key.
  expect(doc.paths['/codec/decode']).toBeUndefined();
  expect((await app.request('/approvals')).status).toBe(401);
});
