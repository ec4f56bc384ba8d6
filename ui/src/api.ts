/**
 * The page's only backend is Baton's JSON API on the same origin. A key, when the API needs one, is
 * entered once and kept in sessionStorage (gone when the tab closes) and sent as
 * `Authorization: Bearer <key>`, the header the API already takes. Live events are read with
 * fetch-streaming instead of EventSource, so that the same header authenticates them too.
 */

const KEY = 'baton.apiKey';

export function savedKey(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function saveKey(key: string | undefined): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An answer other than 2xx: status and the API's `{ error }` sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: any = {},
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = savedKey();
  return { ...extra, ...(key && { authorization: `Bearer ${key}` }) };
}

/** Listeners told when the API answers 401 (the page then asks for a key). */
const unauthorized = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorized.add(fn);
  return () => unauthorized.delete(fn);
}

export async function api<T = any>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: headers(body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { error: text };
  }
  if (!res.ok) {
    if (res.status === 401) for (const fn of unauthorized) fn();
    throw new ApiError(res.status, json.error ?? `${res.status} ${res.statusText}`, json);
  }
  return json as T;
}

export const runPath = (id: string) => `/runs/${encodeURIComponent(id)}`;

// --- Types as the API answers them (src/workflows/api.ts, src/client.ts) ---

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
}
export interface RunListing {
  runId: string;
  ensemble: string;
  status: string;
  started: string;
  startedBy?: string;
}
export interface StepProgress {
  name: string;
  kind: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'waiting';
  output?: string;
  error?: { type: string; message: string };
  reason?: string;
  startedAt?: number;
  endedAt?: number;
  calls: number;
  toolCalls?: number;
  attempts?: number;
  usage: Usage;
  costUsd: number;
  model?: string;
  reused?: boolean;
  truncated?: { chars: number };
}
export interface PendingApproval {
  gate: string;
  step: string;
  kind: string;
  summary: string;
  draft?: string;
  tool?: { name: string; arguments: Record<string, unknown> };
  digest: string;
  budget?: { needed: { tokens: number; costUsd: number }; spent: { tokens: number; costUsd: number } };
  since: string;
  deadline: string;
  onTimeout: string;
  escalated?: boolean;
}
export interface ApprovalDecision {
  gate: string;
  step: string;
  outcome: 'approved' | 'rejected' | 'released';
  by: string;
  comment?: string;
  decidedAt: string;
  editedDraft?: string;
  editedArguments?: Record<string, unknown>;
  timedOut?: boolean;
}
export interface RunProgress {
  name: string;
  status: 'running' | 'completed' | 'failed';
  steps: StepProgress[];
  usage: Usage;
  costUsd: number;
  output?: string;
  error?: { step?: string; type: string; message: string };
  pendingApprovals?: PendingApproval[];
  decisions?: ApprovalDecision[];
  parent?: { runId: string; kind: string; fromStep?: string };
  startedBy?: string;
}
export interface ApprovalListing {
  runId: string;
  ensemble?: string;
  gate: string;
  step: string;
  kind: string;
  summary: string;
  since: string;
  deadline: string;
  digest?: string;
}

/** One event of GET /runs/:id/events (the stream contract in docs/web-ui.md). */
export interface RunEvent {
  id: string;
  runId: string;
  type: string;
  step?: string;
  attempt?: number;
  text?: string;
  [k: string]: unknown;
}

/**
 * Follow a run's events (SSE over fetch, resuming with Last-Event-ID after a dropped connection).
 * Resolves `false` at once when the server has no event stream (404 or 405), so the caller polls
 * progress instead; resolves `true` when the stream ended (run over, or `signal` aborted).
 */
export async function followEvents(
  runId: string,
  onEvent: (ev: RunEvent) => void,
  signal: AbortSignal,
): Promise<boolean> {
  let last: string | undefined;
  for (let failures = 0; !signal.aborted && failures < 5;) {
    let res: Response;
    try {
      res = await fetch(`${runPath(runId)}/events`, {
        headers: headers({ accept: 'text/event-stream', ...(last && { 'last-event-id': last }) }),
        signal,
      });
    } catch {
      if (signal.aborted) return true;
      failures++;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (res.status === 404 || res.status === 405) return false;
    if (res.status === 401) for (const fn of unauthorized) fn();
    if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream'))
      return false;
    failures = 0;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let ended = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut: number;
        while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
          const data: string[] = [];
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith('id:')) last = line.slice(3).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (!data.length) continue;
          try {
            const ev = JSON.parse(data.join('\n')) as RunEvent;
            onEvent(ev);
            if (/^run\.(completed|failed|cancelled)$/.test(ev.type)) ended = true;
          } catch {
            /* a line that is not JSON: skip it */
          }
        }
      }
    } catch {
      if (signal.aborted) return true;
      failures++;
    }
    if (ended) return true;
    // The server closed the stream while the run goes on: reconnect after a pause, from `last`.
    await new Promise((r) => setTimeout(r, 1000));
  }
  return true;
}

// --- Formatting ---

export function money(usd: number | undefined): string {
  if (usd === undefined) return '—';
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function tokens(u: Usage | undefined): string {
  if (!u) return '—';
  return `${u.inputTokens.toLocaleString('en')} in / ${u.outputTokens.toLocaleString('en')} out`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return m < 60 ? `${m} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(iso: string | number): string {
  const d = new Date(iso);
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "in 59 min" / "3 min ago". */
export function relative(iso: string, now = Date.now()): string {
  const ms = new Date(iso).getTime() - now;
  const text = duration(Math.abs(ms));
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
