/** Follow a run to its end, printing per-step progress as it changes (rich output). */
import type { BatonClient } from '../client';
import type { RunProgress, RunResult, StepProgress } from '../workflows/api';
import { preview, stepLine } from './output';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait for a run's result; in between, call `onStep` for each step whose status changed.
 * Progress is polled through the run's query, so this works against any worker. When `signal`
 * aborts, polling stops and the promise rejects with the signal's reason (the run goes on).
 */
export async function followRun(
  baton: BatonClient,
  runId: string,
  onStep: (s: StepProgress) => void,
  opts: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<RunResult> {
  const { pollMs = 250, signal } = opts;
  const seen = new Map<string, string>();
  const report = (p: RunProgress | undefined) => {
    for (const s of p?.steps ?? []) {
      const key = `${s.status}:${s.calls}`;
      if (seen.get(s.name) !== key && s.status !== 'pending') {
        seen.set(s.name, key);
        onStep(s);
      }
    }
  };
  let done = false;
  const result = baton.result(runId).finally(() => (done = true));
  result.catch(() => {}); // awaited below, unless the signal ends the wait first
  const aborted = new Promise<void>((resolve) =>
    signal?.addEventListener('abort', () => resolve(), { once: true }),
  );
  while (!done && !signal?.aborted) {
    await Promise.race([sleep(pollMs), result.catch(() => undefined), aborted]);
    if (!done && !signal?.aborted) report(await baton.progress(runId).catch(() => undefined));
  }
  signal?.throwIfAborted();
  try {
    const r = await result;
    report(r);
    return r;
  } catch (err) {
    report((err as { progress?: RunProgress }).progress);
    throw err;
  }
}

/** A step as rich output prints it when it changes. */
export function richStep(s: StepProgress): string {
  if (s.status === 'running') return `… ${s.name} running${s.calls ? ` (${s.calls} calls so far)` : ''}`;
  if (s.status === 'completed') return `${stepLine(s)}\n    ${preview(s.output ?? '')}`;
  return stepLine(s);
}
