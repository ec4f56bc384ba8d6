/** Follow a run to its end, printing per-step progress as it changes (rich output). */
import type { BatonClient } from '../client';
import type { RunProgress, RunResult, StepProgress } from '../workflows/api';
import { preview, stepLine } from './output';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait for a run's result; in between, call `onStep` for each step whose status changed.
 * Progress is polled through the run's query, so this works against any worker.
 */
export async function followRun(
  baton: BatonClient,
  runId: string,
  onStep: (s: StepProgress) => void,
  pollMs = 250,
): Promise<RunResult> {
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
  while (!done) {
    await Promise.race([sleep(pollMs), result.catch(() => undefined)]);
    if (!done) report(await baton.progress(runId).catch(() => undefined));
  }
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
