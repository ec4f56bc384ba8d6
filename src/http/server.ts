/**
 * Baton's HTTP API: a thin JSON shell over the typed client, for services that prefer HTTP.
 *
 *   POST /runs                      { ensemble: YAML text | definition: {...}, input, runId?, options? } -> 201 { runId, started }
 *   GET  /runs                      ?limit=20                          -> [{ runId, ensemble, status, started }]
 *   GET  /runs/:id                                                     -> progress (steps, usage, cost, approvals, lineage)
 *   GET  /runs/:id/result                                              -> waits; 200 result, or 422 with the failed step and progress
 *   GET  /runs/:id/steps/:step/output                                  -> { output } (whole, also when progress shows a preview)
 *   POST /runs/:id/cancel                                              -> 202
 *   POST /runs/:id/retry            { runId?, ensemble? }              -> 201 { runId }
 *   POST /runs/:id/fork             { fromStep, input?, overrides?, runId? } -> 201 { runId }
 *   GET  /approvals                                                    -> pending approvals across runs
 *   POST /runs/:id/decisions        { gate?, outcome, by, comment?, editedDraft?, editedArguments? } -> 200 decision, or 409 refusal
 *
 * Errors are `{ error, ... }` with 400 for bad input (ensemble issues listed with file, line and
 * path), 404 for an unknown run, 409 for a refused decision. Set BATON_API_TOKEN to require
 * `Authorization: Bearer <token>`.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ApprovalRefusedError, InvalidRequestError, RunFailedError, type BatonClient } from '../client';
import { EnsembleError, loadEnsembleText } from '../config';
import { UnknownProfileError } from '../config/profiles';
import type { EnsembleDefinition } from '../types';
import type { DecisionInput, RunOptions } from '../workflows/api';

/** An error with the HTTP status it maps to. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const MAX_BODY = 5 * 1024 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'the request body must be a JSON object');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function str(body: Record<string, unknown>, field: string, required: true): string;
function str(body: Record<string, unknown>, field: string, required?: false): string | undefined;
function str(body: Record<string, unknown>, field: string, required = false): string | undefined {
  const v = body[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string')
    throw new HttpError(400, `field '${field}' must be a string${required ? ' and is required' : ''}`);
  return v;
}

/** The ensemble of a request: YAML text (validated like `baton validate`) or a resolved definition. */
function ensembleOf(body: Record<string, unknown>, knownTools?: string[]): EnsembleDefinition | undefined {
  if (body.ensemble !== undefined)
    return loadEnsembleText(
      str(body, 'ensemble', true),
      'request.ensemble',
      knownTools ? { knownTools } : {},
    );
  if (body.definition !== undefined) {
    const d = body.definition as EnsembleDefinition;
    if (!d || typeof d !== 'object' || typeof d.name !== 'string' || !Array.isArray(d.steps)) {
      throw new HttpError(400, "field 'definition' must be a resolved ensemble: { name, steps: [...] }");
    }
    return d;
  }
  return undefined;
}

/** Map known errors to statuses; anything else is a 500 with its message. */
function failure(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof EnsembleError) return new HttpError(400, err.message, { issues: err.issues });
  if (err instanceof UnknownProfileError || err instanceof InvalidRequestError)
    return new HttpError(400, err.message);
  if (err instanceof WorkflowNotFoundError) return new HttpError(404, `no run with that id: ${err.message}`);
  if (err instanceof ApprovalRefusedError) {
    return new HttpError(err.reason === 'run-not-found' ? 404 : 409, err.message, { reason: err.reason });
  }
  if (err instanceof RunFailedError)
    return new HttpError(422, err.message, { type: err.type, step: err.step, progress: err.progress });
  return new HttpError(500, err instanceof Error ? err.message : String(err));
}

type Route = (
  m: RegExpMatchArray,
  body: () => Promise<Record<string, unknown>>,
  url: URL,
) => Promise<[number, unknown]>;

/**
 * Create the HTTP server (not yet listening).
 *
 * @example const server = createHttpServer(await BatonClient.connect()); server.listen(8080);
 */
export function createHttpServer(
  baton: BatonClient,
  opts: { token?: string; knownTools?: string[] } = {},
): Server {
  const token = opts.token ?? process.env.BATON_API_TOKEN;
  const routes: [string, RegExp, Route][] = [
    [
      'POST',
      /^\/runs$/,
      async (_m, body) => {
        const b = await body();
        const definition = ensembleOf(b, opts.knownTools);
        if (!definition)
          throw new HttpError(
            400,
            "give the ensemble as YAML text in 'ensemble', or resolved in 'definition'",
          );
        const input = str(b, 'input') ?? '';
        const runId = str(b, 'runId');
        const handle = await baton.start(definition, input, {
          ...(runId && { runId }),
          ...(b.options !== undefined && { options: b.options as RunOptions }),
        });
        return [handle.started ? 201 : 200, handle];
      },
    ],
    [
      'GET',
      /^\/runs$/,
      async (_m, _b, url) => {
        const limit = Number(url.searchParams.get('limit') ?? 20);
        if (!Number.isInteger(limit) || limit <= 0)
          throw new HttpError(400, "query 'limit' must be a positive whole number");
        const rows = await baton.listRuns({ limit });
        return [200, rows];
      },
    ],
    ['GET', /^\/runs\/([^/]+)$/, async (m) => [200, await baton.progress(decodeURIComponent(m[1]!))]],
    ['GET', /^\/runs\/([^/]+)\/result$/, async (m) => [200, await baton.result(decodeURIComponent(m[1]!))]],
    [
      'GET',
      /^\/runs\/([^/]+)\/steps\/([^/]+)\/output$/,
      async (m) => {
        const output = await baton.stepOutput(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
        if (output === undefined)
          throw new HttpError(404, `step '${decodeURIComponent(m[2]!)}' has no output (yet)`);
        return [200, { output }];
      },
    ],
    [
      'POST',
      /^\/runs\/([^/]+)\/cancel$/,
      async (m) => {
        await baton.cancel(decodeURIComponent(m[1]!));
        return [202, { cancelled: true }];
      },
    ],
    [
      'POST',
      /^\/runs\/([^/]+)\/retry$/,
      async (m, body) => {
        const b = await body();
        const definition = ensembleOf(b, opts.knownTools);
        const runId = str(b, 'runId');
        return [
          201,
          await baton.retry(decodeURIComponent(m[1]!), {
            ...(definition && { definition }),
            ...(runId && { runId }),
          }),
        ];
      },
    ],
    [
      'POST',
      /^\/runs\/([^/]+)\/fork$/,
      async (m, body) => {
        const b = await body();
        const input = str(b, 'input');
        const runId = str(b, 'runId');
        const overrides = (b.overrides ?? {}) as { prompt?: string; system?: string; profile?: string };
        return [
          201,
          await baton.fork(decodeURIComponent(m[1]!), {
            fromStep: str(b, 'fromStep', true),
            overrides,
            ...(input !== undefined && { input }),
            ...(runId && { runId }),
          }),
        ];
      },
    ],
    ['GET', /^\/approvals$/, async () => [200, await baton.listPendingApprovals()]],
    [
      'POST',
      /^\/runs\/([^/]+)\/decisions$/,
      async (m, body) => {
        const b = await body();
        const outcome = str(b, 'outcome', true);
        if (!['approved', 'rejected', 'approve', 'reject'].includes(outcome)) {
          throw new HttpError(400, "field 'outcome' must be 'approved' or 'rejected'");
        }
        const decision = {
          ...b,
          outcome: outcome.startsWith('approve') ? 'approved' : 'rejected',
          by: str(b, 'by', true),
        } as DecisionInput;
        return [200, await baton.decide(decodeURIComponent(m[1]!), decision)];
      },
    ],
  ];

  return createServer((req, res) => {
    void (async () => {
      try {
        if (token && req.headers.authorization !== `Bearer ${token}`)
          throw new HttpError(401, 'missing or wrong bearer token (BATON_API_TOKEN)');
        const url = new URL(req.url ?? '/', 'http://localhost');
        const matches = routes.filter(([, re]) => re.test(url.pathname));
        if (matches.length === 0) throw new HttpError(404, `no route ${url.pathname}`);
        const route = matches.find(([method]) => method === req.method);
        if (!route)
          throw new HttpError(
            405,
            `${req.method} is not allowed on ${url.pathname}; use ${matches.map(([m]) => m).join(' or ')}`,
          );
        const [status, body] = await route[2](url.pathname.match(route[1])!, () => readJson(req), url);
        send(res, status, body);
      } catch (err) {
        const e = failure(err);
        send(res, e.status, { error: e.message, ...e.extra });
      }
    })();
  });
}
