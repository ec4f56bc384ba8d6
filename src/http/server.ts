/**
 * Baton's HTTP API: a thin JSON shell over the typed client, on Hono. Routes, scopes and bodies
 * are declared once (ROUTES below, schemas in schemas.ts); the same declarations validate
 * requests and produce the OpenAPI document served at GET /openapi.json. docs/http-api.md lists
 * them for people, and a test keeps that list equal to the document.
 *
 * Every request passes, in order: a path check (malformed percent-escapes), the browser-origin
 * check (Origin / Sec-Fetch-Site; CORS only for allowed origins), the loopback check when no key
 * is configured, authentication (named keys with scopes), the body checks (JSON content type,
 * size, syntax), the route's scope, then the route's schema. Only then does it reach Temporal.
 */
import { CodecRequestError, PayloadDecryptionError } from '../codec';
import { OpenAPIHono } from '@hono/zod-openapi';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { InvalidCursorError } from '../streams';
import { createServer, type Server } from 'node:http';
import * as os from 'node:os';
import type { z } from 'zod';
import {
  ApprovalRefusedError,
  InvalidRequestError,
  ProgressUnavailableError,
  RunFailedError,
  type BatonClient,
} from '../client';
import { EnsembleError, loadEnsembleText } from '../config';
import { issuesOf } from '../config/definition-schema';
import { UnknownProfileError } from '../config/profiles';
import type { EnsembleDefinition, ModelProfile } from '../types';
import type { DecisionInput } from '../workflows/api';
import { allows, ApiConfigError, authenticate, isLoopback, loadKeys, type ApiKey, type Scope } from './auth';
import {
  anyObject,
  codecBody,
  decisionBody,
  errorBody,
  forkBody,
  eventsQuery,
  listQuery,
  retryBody,
  runParams,
  startBody,
  stepParams,
} from './schemas';
import { uiDirOf, uiFile } from './ui';

/** Temporal codec-server handlers (`src/codec`): JSON `{ payloads }` in, `{ payloads }` out. */
export interface CodecHandlers {
  encode(body: unknown): Promise<unknown>;
  decode(body: unknown): Promise<unknown>;
}

export interface ApiOptions {
  /** One admin key in plain text; default: BATON_API_TOKEN. */
  token?: string;
  /** Key entries `principal:scopes:sha256hex` (see auth.ts); default: BATON_API_KEYS. */
  keys?: string;
  /** A file of key entries; default: BATON_API_KEYS_FILE. */
  keysFile?: string;
  /** Tool names the workers register; an ensemble naming another tool is refused. */
  knownTools?: string[];
  /** Browser origins allowed to call the API (CORS); default: BATON_API_CORS_ORIGINS (comma-separated), none. */
  corsOrigins?: string[];
  /** Origins also allowed on /codec/*; default: BATON_CODEC_CORS_ORIGINS, else the Temporal UI at http://localhost:8233. */
  codecCorsOrigins?: string[];
  /** Largest request body in bytes (default 5 MB). */
  maxBodyBytes?: number;
  /** Mounts POST /codec/encode and /codec/decode. */
  codec?: CodecHandlers;
  /** Who acts when no key is configured (loopback only); default: the user running the API. */
  localPrincipal?: string;
  /** Environment the defaults above are read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The built web UI served at /ui/ (default: BATON_UI_DIR, else ui/dist of this checkout); `false` serves none. */
  uiDir?: string | false;
}

/** An error with the HTTP status it maps to. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const DEFAULT_MAX_BODY = 5 * 1024 * 1024;
const TEMPORAL_UI_ORIGIN = 'http://localhost:8233';

type Env = {
  Bindings: Partial<HttpBindings>;
  Variables: { principal: string; scopes: Scope[]; body: unknown };
};
type Ctx = Context<Env>;

interface RouteSpec {
  method: 'get' | 'post';
  /** OpenAPI form: `/runs/{id}`. */
  path: string;
  scope: Scope | 'public';
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Status of a success. */
  status: number;
  /** Content type of a success (default JSON); a route that streams answers with its own Response. */
  contentType?: string;
  handle: (c: Ctx, args: { params: any; query: any; body: any }) => Promise<[number, unknown] | Response>;
}

/** Parse `value` with `schema`, or a 400 naming each bad field under `where`. */
function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = issuesOf(result.error, where);
  throw new HttpError(400, issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
}

/** Map known errors to statuses; anything else is a 500 with its message. */
function failure(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof CodecRequestError) return new HttpError(400, err.message);
  // A payload sealed with a key this server does not hold: the request is fine, the data is not readable here.
  if (err instanceof PayloadDecryptionError) return new HttpError(422, err.message);
  if (err instanceof EnsembleError) return new HttpError(400, err.message, { issues: err.issues });
  if (err instanceof InvalidRequestError)
    return new HttpError(400, err.message, err.issues ? { issues: err.issues } : {});
  if (err instanceof UnknownProfileError) return new HttpError(400, err.message);
  if (err instanceof WorkflowNotFoundError) return new HttpError(404, `no run with that id: ${err.message}`);
  if (err instanceof ApprovalRefusedError)
    return new HttpError(err.reason === 'run-not-found' ? 404 : 409, err.message, { reason: err.reason });
  if (err instanceof RunFailedError)
    return new HttpError(422, err.message, { type: err.type, step: err.step, progress: err.progress });
  if (err instanceof ProgressUnavailableError) return new HttpError(503, err.message);
  // Temporal's own refusals (gRPC status): not found, and arguments the server will not take.
  const code = grpcCode(err);
  if (code === 5) return new HttpError(404, `no run with that id: ${(err as Error).message}`);
  if (code === 3) return new HttpError(400, `Temporal refused the request: ${(err as Error).message}`);
  return new HttpError(500, err instanceof Error ? err.message : String(err));
}

function grpcCode(err: unknown): number | undefined {
  for (let e: any = err, depth = 0; e && depth < 4; e = e.cause, depth++)
    if (typeof e.code === 'number') return e.code as number;
  return undefined;
}

function principalOfProcess(env: NodeJS.ProcessEnv): string {
  try {
    return env.USER || os.userInfo().username || 'local';
  } catch {
    return 'local';
  }
}

function origins(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((o) => o.trim().replace(/\/$/, ''))
    .filter(Boolean);
}

/** The routes: method, path, scope, schemas and handler. */
function routes(baton: BatonClient, opts: ApiOptions): RouteSpec[] {
  const ensembleOf = (b: { ensemble?: string; definition?: unknown }): EnsembleDefinition | undefined =>
    b.ensemble !== undefined
      ? loadEnsembleText(
          b.ensemble,
          'request.ensemble',
          opts.knownTools ? { knownTools: opts.knownTools } : {},
        )
      : (b.definition as EnsembleDefinition | undefined);
  const list: RouteSpec[] = [
    {
      method: 'post',
      path: '/runs',
      scope: 'run',
      summary: 'Start a run (201), or return the run a runId already names (200)',
      body: startBody,
      status: 201,
      handle: async (_c, { body }) => {
        const handle = await baton.start(ensembleOf(body)!, body.input ?? '', {
          ...(body.runId && { runId: body.runId }),
          ...(body.options && { options: body.options }),
        });
        return [handle.started ? 201 : 200, handle];
      },
    },
    {
      method: 'get',
      path: '/runs',
      scope: 'read',
      summary: 'Recent runs: runId, ensemble, status, started, startedBy',
      query: listQuery,
      status: 200,
      handle: async (_c, { query }) => [200, await baton.listRuns({ limit: Number(query.limit ?? 20) })],
    },
    {
      method: 'get',
      path: '/runs/{id}',
      scope: 'read',
      summary: "A run's progress: steps, usage, cost, approvals, lineage, startedBy",
      params: runParams,
      status: 200,
      handle: async (_c, { params }) => {
        const progress = await baton.progress(params.id);
        const startedBy = await baton.startedBy(params.id);
        return [200, { ...progress, ...(startedBy && { startedBy }) }];
      },
    },
    {
      method: 'get',
      path: '/runs/{id}/events',
      scope: 'read',
      summary:
        "A run's live events as Server-Sent Events (docs/streaming.md): event = type, data = the event's JSON, id = its cursor; resume with Last-Event-ID or ?after=",
      params: runParams,
      query: eventsQuery,
      status: 200,
      contentType: 'text/event-stream',
      handle: async (c, { params, query }) => {
        const after: string | undefined = c.req.header('last-event-id') || query.after || undefined;
        // A run that does not exist is a 404, and a cursor this stream never gave out a 400, before the stream opens.
        await baton.handle(params.id).describe();
        try {
          await baton.eventBus.read(params.id, after, { blockMs: 0, count: 1 });
        } catch (err) {
          if (err instanceof InvalidCursorError)
            throw new HttpError(
              400,
              `${c.req.header('last-event-id') ? 'Last-Event-ID' : 'after'}: ${err.message}`,
            );
          throw err;
        }
        return streamSSE(c, async (stream) => {
          const stop = new AbortController();
          stream.onAbort(() => stop.abort());
          for await (const ev of baton.events(params.id, { ...(after && { after }), signal: stop.signal }))
            await stream.writeSSE({ id: ev.id, event: ev.type, data: JSON.stringify(ev) });
        });
      },
    },
    {
      method: 'get',
      path: '/runs/{id}/result',
      scope: 'read',
      summary: 'Wait for the end: 200 result, or 422 with the failed step and progress',
      params: runParams,
      status: 200,
      handle: async (_c, { params }) => [200, await baton.result(params.id)],
    },
    {
      method: 'get',
      path: '/runs/{id}/steps/{step}/output',
      scope: 'read',
      summary: "One step's whole output",
      params: stepParams,
      status: 200,
      handle: async (_c, { params }) => {
        const output = await baton.stepOutput(params.id, params.step);
        if (output === undefined) throw new HttpError(404, `step '${params.step}' has no output (yet)`);
        return [200, { output }];
      },
    },
    {
      method: 'post',
      path: '/runs/{id}/cancel',
      scope: 'run',
      summary: 'Cancel a run',
      params: runParams,
      status: 202,
      handle: async (_c, { params }) => {
        await baton.cancel(params.id);
        return [202, { cancelled: true }];
      },
    },
    {
      method: 'post',
      path: '/runs/{id}/retry',
      scope: 'run',
      summary: 'Start a linked run that reuses the completed steps of a failed one',
      params: runParams,
      body: retryBody,
      status: 201,
      handle: async (_c, { params, body }) => {
        const b = body ?? {};
        const definition = ensembleOf(b);
        return [
          201,
          await baton.retry(params.id, {
            ...(definition && { definition }),
            ...(b.runId && { runId: b.runId }),
            ...(b.options && { options: b.options }),
          }),
        ];
      },
    },
    {
      method: 'post',
      path: '/runs/{id}/fork',
      scope: 'run',
      summary: 'Start a linked run from any step, with a changed input, prompt or profile',
      params: runParams,
      body: forkBody,
      status: 201,
      handle: async (_c, { params, body }) => [
        201,
        await baton.fork(params.id, {
          fromStep: body.fromStep,
          overrides: (body.overrides ?? {}) as {
            prompt?: string;
            system?: string;
            profile?: ModelProfile | string;
          },
          ...(body.input !== undefined && { input: body.input }),
          ...(body.runId && { runId: body.runId }),
          ...(body.options && { options: body.options }),
        }),
      ],
    },
    {
      method: 'get',
      path: '/approvals',
      scope: 'read',
      summary: 'Pending approvals across runs',
      status: 200,
      handle: async () => [200, await baton.listPendingApprovals()],
    },
    {
      method: 'post',
      path: '/runs/{id}/decisions',
      scope: 'decide',
      summary: 'Decide a waiting gate; recorded as decided by the authenticated principal',
      params: runParams,
      body: decisionBody,
      status: 200,
      handle: async (c, { params, body }) => {
        const b = body as z.infer<typeof decisionBody>;
        // Who decides is who authenticated; a `by` in the body is ignored (docs/http-api.md).
        const decision = {
          ...(b.gate !== undefined && { gate: b.gate }),
          outcome: b.outcome.startsWith('approve') ? 'approved' : 'rejected',
          ...(b.comment !== undefined && { comment: b.comment }),
          ...(b.editedDraft !== undefined && { editedDraft: b.editedDraft }),
          ...(b.editedArguments !== undefined && { editedArguments: b.editedArguments }),
          ...(b.digest !== undefined && { digest: b.digest }),
          ...(b.budget !== undefined && { budget: b.budget }),
          by: c.get('principal'),
        } as unknown as DecisionInput;
        return [200, await baton.decide(params.id, decision)];
      },
    },
    {
      method: 'get',
      path: '/healthz',
      scope: 'public',
      summary: 'Liveness: 200 { ok: true } (no authentication, no Temporal call)',
      status: 200,
      handle: async () => [200, { ok: true }],
    },
  ];
  if (opts.codec) {
    const codec = opts.codec;
    list.push(
      {
        method: 'post',
        path: '/codec/encode',
        scope: 'run',
        summary: "Temporal codec server: encode payloads (Temporal's codec-server JSON)",
        body: codecBody,
        status: 200,
        handle: async (_c, { body }) => [200, await codec.encode(body)],
      },
      {
        method: 'post',
        path: '/codec/decode',
        scope: 'read',
        summary: 'Temporal codec server: decode payloads for the Temporal UI and CLI',
        body: codecBody,
        status: 200,
        handle: async (_c, { body }) => [200, await codec.decode(body)],
      },
    );
  }
  return list;
}

const isUiPath = (p: string) => p === '/' || p === '/ui' || p.startsWith('/ui/');
const honoPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');
const pathPattern = (path: string) => new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}$`);

/**
 * The API as a Hono app (`app.fetch` takes a web Request). Throws ApiConfigError for a bad keys
 * file or `BATON_API_KEYS`.
 *
 * @example const app = createApi(baton, { token: 's3cret' }); const res = await app.request('/runs');
 */
export function createApi(baton: BatonClient, opts: ApiOptions = {}): OpenAPIHono<Env> {
  const env = opts.env ?? process.env;
  const keys = apiKeys(opts);
  const open = keys.length === 0;
  const localPrincipal = opts.localPrincipal ?? principalOfProcess(env);
  const corsOrigins = new Set(opts.corsOrigins ?? origins(env.BATON_API_CORS_ORIGINS));
  const codecOrigins = new Set([
    ...corsOrigins,
    ...(opts.codecCorsOrigins ??
      (env.BATON_CODEC_CORS_ORIGINS !== undefined
        ? origins(env.BATON_CODEC_CORS_ORIGINS)
        : [TEMPORAL_UI_ORIGIN])),
  ]);
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const table = routes(baton, opts);

  const app = new OpenAPIHono<Env>();

  app.onError((err, c) => {
    const e = failure(err);
    if (e.status >= 500) process.stderr.write(`baton api: ${c.req.method} ${c.req.path}: ${e.message}\n`);
    return c.json({ error: e.message, ...e.extra }, e.status as 400);
  });

  // 1. The path: a malformed percent-escape is the caller's mistake, not ours.
  app.use('*', async (c, next) => {
    const raw = new URL(c.req.url).pathname;
    try {
      decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, `the path '${raw.slice(0, 200)}' holds a malformed percent-escape`);
    }
    await next();
  });

  // 2. Browsers: refuse cross-origin requests unless the origin is allowed; answer CORS for those.
  app.use('*', async (c, next) => {
    const allowed = c.req.path.startsWith('/codec/') ? codecOrigins : corsOrigins;
    const origin = c.req.header('origin');
    const site = c.req.header('sec-fetch-site');
    const host = c.req.header('host');
    let cors = false;
    if (origin !== undefined) {
      if (allowed.has(origin)) cors = true;
      else if (!(
        host &&
        (origin === `http://${host}` || origin === `https://${host}`) &&
        site !== 'cross-site'
      ))
        throw new HttpError(
          403,
          `cross-origin request from ${origin.slice(0, 200)} refused; allow it with BATON_API_CORS_ORIGINS (docs/security.md)`,
        );
    } else if (site === 'cross-site' || site === 'same-site') {
      throw new HttpError(403, 'cross-site browser request refused (Sec-Fetch-Site); see docs/security.md');
    }
    if (cors) {
      c.header('access-control-allow-origin', origin!);
      c.header('vary', 'Origin');
      if (c.req.method === 'OPTIONS') {
        c.header('access-control-allow-methods', 'GET, POST, OPTIONS');
        c.header('access-control-allow-headers', 'authorization, content-type, x-namespace');
        c.header('access-control-max-age', '600');
        return c.body(null, 204);
      }
    }
    await next();
  });

  // 3. Without keys, answer only on loopback, and only to loopback host names (no DNS rebinding).
  app.use('*', async (c, next) => {
    if (open) {
      const local = c.env?.incoming?.socket?.localAddress;
      if (local !== undefined && !isLoopback(local))
        throw new HttpError(
          403,
          'this API has no keys configured, so it answers only on loopback; set BATON_API_TOKEN or BATON_API_KEYS',
        );
      const hostName = (c.req.header('host') ?? 'localhost').replace(/:\d+$/, '');
      if (!isLoopback(hostName))
        throw new HttpError(
          403,
          `host '${hostName.slice(0, 100)}' refused: without keys the API answers only to localhost names`,
        );
    }
    await next();
  });

  // 4. Who is calling.
  app.use('*', async (c, next) => {
    const route = table.find(
      (r) => pathPattern(r.path).test(c.req.path) && r.method === c.req.method.toLowerCase(),
    );
    if (route?.scope === 'public' || c.req.path === '/openapi.json' || isUiPath(c.req.path)) return next();
    if (open) {
      c.set('principal', localPrincipal);
      c.set('scopes', ['admin']);
      return next();
    }
    const key = authenticate(c.req.header('authorization'), keys);
    if (!key) {
      c.header('www-authenticate', 'Bearer');
      throw new HttpError(
        401,
        'missing or wrong API key: send Authorization: Bearer <key> (BATON_API_TOKEN or BATON_API_KEYS)',
      );
    }
    c.set('principal', key.principal);
    c.set('scopes', key.scopes);
    await next();
  });

  // 5. Bodies: bounded, JSON only.
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBody,
      onError: () => {
        throw new HttpError(413, `request body over ${maxBody} bytes`);
      },
    }),
  );
  app.use('*', async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const text = await c.req.text();
    if (text.length === 0) return next();
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(type))
      throw new HttpError(
        415,
        `a request body must be JSON: send content-type: application/json (got '${type.slice(0, 100) || 'none'}')`,
      );
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new HttpError(400, 'the request body must be a JSON object');
    c.set('body', value);
    await next();
  });

  // The web UI: static files, no data in them, so no key is needed to load them (ui.ts).
  const uiDir = opts.uiDir ?? uiDirOf(env);
  if (uiDir !== false) {
    app.get('/', (c) => c.redirect('/ui/', 302));
    app.get('/ui', (c) => c.redirect('/ui/', 302));
    app.get('/ui/*', (c) => {
      const file = uiFile(uiDir, decodeURIComponent(c.req.path.slice('/ui/'.length)));
      if (!file) throw new HttpError(404, `no file ${c.req.path.slice(0, 200)} in the web UI`);
      return c.body(file.body as any, file.status as 200, file.headers);
    });
  }

  for (const r of table) {
    app.on(r.method.toUpperCase(), honoPath(r.path), async (c) => {
      if (r.scope !== 'public' && !allows({ scopes: c.get('scopes') }, r.scope))
        throw new HttpError(
          403,
          `key '${c.get('principal')}' lacks the scope '${r.scope}' this route needs`,
          {
            scope: r.scope,
          },
        );
      const params = r.params ? parse(r.params, c.req.param(), 'path') : {};
      const query = r.query ? parse(r.query, c.req.query(), 'query') : {};
      const raw = c.get('body');
      let body: unknown;
      if (r.body) body = parse(r.body, raw ?? {}, 'body');
      else if (raw !== undefined)
        throw new HttpError(400, `${r.method.toUpperCase()} ${r.path} takes no body`);
      const out = await baton.actingAs(c.get('principal'), () => r.handle(c, { params, query, body }));
      if (out instanceof Response) return out;
      const [status, answer] = out;
      return c.json(answer as object, status as 200);
    });
    app.openAPIRegistry.registerPath({
      method: r.method,
      path: r.path,
      summary: r.summary,
      ...(r.scope !== 'public' && {
        security: [{ bearerAuth: [] }],
        description: `Needs scope \`${r.scope}\`.`,
      }),
      request: {
        ...(r.params && { params: r.params }),
        ...(r.query && { query: r.query }),
        ...(r.body && { body: { required: true, content: { 'application/json': { schema: r.body } } } }),
      },
      responses: {
        [r.status]: {
          description: 'Success',
          content: {
            [r.contentType ?? 'application/json']: { schema: r.contentType ? { type: 'string' } : anyObject },
          },
        },
        400: {
          description: 'Bad input; `issues` name each field',
          content: { 'application/json': { schema: errorBody } },
        },
        ...(r.scope !== 'public' && {
          401: {
            description: 'Missing or wrong API key',
            content: { 'application/json': { schema: errorBody } },
          },
          403: {
            description: 'Key lacks the scope, or the origin is refused',
            content: { 'application/json': { schema: errorBody } },
          },
        }),
      },
    });
  }
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Baton HTTP API',
      version: '1',
      description: 'See docs/http-api.md and docs/security.md.',
    },
  });
  app.get('/openapi.json', (c) => c.json(document));

  app.notFound((c) => {
    const same = table.filter((r) => pathPattern(r.path).test(c.req.path));
    if (same.length)
      throw new HttpError(
        405,
        `${c.req.method} is not allowed on ${c.req.path}; use ${[...new Set(same.map((r) => r.method.toUpperCase()))].join(' or ')}`,
      );
    throw new HttpError(404, `no route ${c.req.path.slice(0, 200)}`);
  });
  return app;
}

/** The keys the options (or their environment) configure; empty: no authentication, loopback only. */
export function apiKeys(opts: ApiOptions = {}): ApiKey[] {
  const env = opts.env ?? process.env;
  const token = opts.token ?? env.BATON_API_TOKEN;
  const keys = opts.keys ?? env.BATON_API_KEYS;
  const keysFile = opts.keysFile ?? env.BATON_API_KEYS_FILE;
  return loadKeys({ ...(token && { token }), ...(keys && { keys }), ...(keysFile && { keysFile }) });
}

/** The OpenAPI document of the API (as served at GET /openapi.json), with the codec routes. */
export function openApiDocument(): Record<string, any> {
  // The document needs the routes' declarations only; no handler runs, so no client is needed.
  const app = createApi(undefined as unknown as BatonClient, {
    token: 'unused',
    codec: { encode: async (b) => b, decode: async (b) => b },
    env: {},
  });
  return app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'Baton HTTP API', version: '1' } });
}

/**
 * Create the HTTP server (not yet listening). Without keys it refuses to listen anywhere but
 * loopback (an 'error' event, and it closes) and answers only loopback connections.
 *
 * @example const server = createHttpServer(await BatonClient.connect()); server.listen(8080, '127.0.0.1');
 */
export function createHttpServer(baton: BatonClient, opts: ApiOptions = {}): Server {
  const open = apiKeys(opts).length === 0;
  const app = createApi(baton, opts);
  const listener = getRequestListener(app.fetch);
  const server = createServer((req, res) => {
    // A client that goes away mid-request (EPIPE, reset) must not become an unhandled rejection.
    listener(req, res).catch(() => res.destroy());
  });
  server.on('listening', () => {
    const where = server.address();
    if (open && where && typeof where === 'object' && !isLoopback(where.address)) {
      server.close();
      server.emit('error', unauthenticatedListen(where.address));
    }
  });
  return server;
}

/** The refusal for listening beyond loopback without keys. */
export function unauthenticatedListen(host: string): ApiConfigError {
  return new ApiConfigError(
    `refusing to listen on ${host} without authentication: anyone who reaches it could start runs and decide approvals. ` +
      'Set BATON_API_TOKEN or BATON_API_KEYS (or --keys-file), or listen on 127.0.0.1 (docs/security.md)',
  );
}
