import type { EventBus, NewStreamEvent, StreamEvent } from './events';

/** What the follower needs to know about a run besides its stream, read by the client. */
export interface RunWatch {
  /** Temporal's status: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, ... */
  status: string;
  /** Gates waiting now. */
  pending: { gate: string; step: string; kind: string; summary: string; since: string; deadline: string }[];
}

/** How an ended run and its decided gates are described; read when a gate closes or the run ends. */
export interface RunDetails {
  output?: string;
  error?: { type: string; message: string };
  decisions?: { gate: string; step: string; outcome: string; by: string; decidedAt: string }[];
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

const RUN_END = new Set(['run.completed', 'run.failed', 'run.cancelled']);

/**
 * A run's events as they happen. Model calls publish theirs from the worker; gate and run-end
 * events are derived from the run's state (its memo, status and progress) by whoever follows the
 * run, and recorded in the same stream once (EventBus.publishOnce), so the workflow never writes an
 * event (its history is the same as without streaming) and every event has a transport id to
 * resume after. Ends after run.completed / run.failed / run.cancelled, or when `signal` aborts.
 */
export async function* followRun(o: FollowOptions): AsyncGenerator<StreamEvent> {
  const pollMs = o.pollMs ?? 250;
  let cursor = o.after || undefined;
  let known = new Map<string, RunWatch['pending'][number]>();
  // The first look at the run's state waits one period: the first tokens are not held up by it.
  let lastWatch = Date.now();
  let decisionsChecked = false;
  let endRecorded = false;
  const record = (key: string, e: Omit<NewStreamEvent, 'runId' | 'ts'>) =>
    o.bus.publishOnce(o.runId, key, { ...e, runId: o.runId, ts: Date.now() } as NewStreamEvent);
  const recordDecisions = async (details: RunDetails) => {
    for (const d of details.decisions ?? [])
      await record(`gate.decided:${d.gate}:${d.decidedAt}`, {
        type: 'gate.decided',
        gate: d.gate,
        step: d.step,
        decision: d.outcome,
        by: d.by,
      });
  };
  while (!o.signal?.aborted) {
    const events = await o.bus.read(o.runId, cursor, {
      blockMs: pollMs,
      ...(o.signal && { signal: o.signal }),
    });
    for (const e of events) {
      cursor = e.id;
      yield e;
      if (RUN_END.has(e.type)) return;
    }
    if (o.signal?.aborted) return;
    // The end is recorded and nothing follows the cursor: this reader resumed after the end.
    if (endRecorded && !events.length) return;
    if (events.length && Date.now() - lastWatch < pollMs) continue;
    lastWatch = Date.now();
    const state = await o.watch();
    const now = new Map(state.pending.map((p) => [`${p.gate}:${p.since}`, p]));
    for (const [key, p] of now)
      await record(`gate.waiting:${key}`, {
        type: 'gate.waiting',
        gate: p.gate,
        step: p.step,
        kind: p.kind,
        summary: p.summary,
        deadline: p.deadline,
      });
    const ended = state.status !== 'RUNNING' && state.status !== 'CONTINUED_AS_NEW';
    // A gate closed since the last look (or before this reader came): its decision, once.
    const closed = [...known.keys()].some((k) => !now.has(k));
    known = now;
    if (!ended && !closed && decisionsChecked) continue;
    decisionsChecked = true;
    const details = await o.details().catch((): RunDetails => ({}));
    await recordDecisions(details);
    if (!ended) continue;
    const type =
      state.status === 'COMPLETED'
        ? 'run.completed'
        : state.status === 'CANCELED' || state.status === 'CANCELLED'
          ? 'run.cancelled'
          : 'run.failed';
    // Whatever the run's calls published is already stored (they publish before they return), so
    // the end goes after it; the next read yields the rest and the end.
    endRecorded = true;
    await record('run.end', {
      type,
      ...(type === 'run.completed' &&
        details.output !== undefined && { output: details.output.slice(0, 2000) }),
      ...(type !== 'run.completed' && {
        error: details.error ?? { type: state.status, message: `run ${state.status.toLowerCase()}` },
      }),
    });
  }
}
