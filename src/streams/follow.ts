import type { EventBus, StreamEvent } from './events';

/** What the follower needs to know about a run besides its stream, read by the client. */
export interface RunWatch {
  /** Temporal's status: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, ... */
  status: string;
  /** Gates waiting now. */
  pending: { gate: string; step: string; kind: string; summary: string; deadline: string }[];
}

/** How an ended run and a decided gate are described; read once, when it happens. */
export interface RunDetails {
  output?: string;
  error?: { type: string; message: string };
  decisions?: { gate: string; outcome: string; by: string }[];
}

export interface FollowOptions {
  bus: EventBus;
  runId: string;
  /** Resume after this event id (one this stream gave out); default: from the start. */
  after?: string;
  signal?: AbortSignal;
  /** How often the run's state is read for gates and its end (default 250 ms). */
  pollMs?: number;
  watch: () => Promise<RunWatch>;
  details: () => Promise<RunDetails>;
}

const END = 'end';

/**
 * A run's events as they happen: what its model calls publish (from the bus), and gate and run
 * events derived from the run's state, so that the workflow itself never writes an event (history
 * stays as it is without streaming). Ends after the run's run.completed / run.failed /
 * run.cancelled, or when `signal` aborts.
 *
 * Ids: a transport id, or for a derived event `<last transport id>~<what>`; resuming after either
 * continues after that transport id. A gate still waiting is announced again after a resume.
 */
export async function* followRun(o: FollowOptions): AsyncGenerator<StreamEvent> {
  const pollMs = o.pollMs ?? 250;
  const [base, derived] = splitCursor(o.after);
  if (derived === END) return;
  let cursor = base;
  const known = new Map<string, RunWatch['pending'][number]>();
  let lastWatch = 0;
  const derivedEvent = (e: Omit<StreamEvent, 'id' | 'runId' | 'ts'>, what: string): StreamEvent => ({
    ...e,
    id: `${cursor ?? '0'}~${what}`,
    runId: o.runId,
    ts: Date.now(),
  });
  while (!o.signal?.aborted) {
    const events = await o.bus.read(o.runId, cursor, { blockMs: pollMs, ...(o.signal && { signal: o.signal }) });
    for (const e of events) {
      cursor = e.id;
      yield e;
    }
    if (o.signal?.aborted) return;
    if (events.length && Date.now() - lastWatch < pollMs) continue;
    lastWatch = Date.now();
    const state = await o.watch();
    const now = new Map(state.pending.map((p) => [p.gate, p]));
    let details: RunDetails | undefined;
    for (const [gate, p] of known) {
      if (now.has(gate)) continue;
      known.delete(gate);
      details ??= await o.details().catch(() => ({}));
      const d = [...(details.decisions ?? [])].reverse().find((x) => x.gate === gate);
      yield derivedEvent(
        {
          type: 'gate.decided',
          gate,
          step: p.step,
          kind: p.kind,
          ...(d && { decision: d.outcome, by: d.by }),
        },
        `gate.decided:${gate}`,
      );
    }
    for (const [gate, p] of now) {
      if (known.has(gate)) continue;
      known.set(gate, p);
      yield derivedEvent(
        { type: 'gate.waiting', gate, step: p.step, kind: p.kind, summary: p.summary, deadline: p.deadline },
        `gate.waiting:${gate}`,
      );
    }
    if (state.status === 'RUNNING' || state.status === 'CONTINUED_AS_NEW') continue;
    // Ended: whatever its calls published before is already stored (they publish before they
    // return), so one more read takes the rest.
    for (;;) {
      const rest = await o.bus.read(o.runId, cursor, { blockMs: 0 });
      if (!rest.length) break;
      for (const e of rest) {
        cursor = e.id;
        yield e;
      }
    }
    details ??= await o.details().catch(() => ({}));
    const type =
      state.status === 'COMPLETED' ? 'run.completed' : state.status === 'CANCELED' ? 'run.cancelled' : 'run.failed';
    yield derivedEvent(
      {
        type,
        ...(type === 'run.completed' && details.output !== undefined && { output: details.output.slice(0, 2000) }),
        ...(type !== 'run.completed' && {
          error: details.error ?? { type: state.status, message: `run ${state.status.toLowerCase()}` },
        }),
      },
      END,
    );
    return;
  }
}

/** A cursor's transport id and derived part (`<id>~<what>`). */
export function splitCursor(after: string | undefined): [string | undefined, string | undefined] {
  if (!after) return [undefined, undefined];
  const i = after.indexOf('~');
  if (i < 0) return [after, undefined];
  const base = after.slice(0, i);
  return [base === '0' ? undefined : base, after.slice(i + 1)];
}
