import { useEffect, useRef } from 'preact/hooks';
import { api, runPath, type RunProgress } from './api';

/** Run `fn` now and every `ms` while the component is shown (never two at once). */
export function usePoll(fn: () => Promise<void>, ms: number, deps: unknown[] = []): void {
  const current = useRef(fn);
  current.current = fn;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      await current.current();
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}

/**
 * Read runs' progress apart from the page's poll, so a run whose worker answers slowly (or is
 * gone) does not pile up reads that hold the browser's connections: one read per run at a time,
 * at most `max` at once, and a run whose read failed is asked again only after `retryFailedMs`.
 * Returns `read(runIds, onProgress, onFailed)`; the ids are asked in the order given.
 */
export function useProgressReads(opts: { max?: number; retryFailedMs?: number } = {}) {
  const { max = Infinity, retryFailedMs = 0 } = opts;
  const reading = useRef(new Set<string>());
  const failedAt = useRef(new Map<string, number>());
  return (
    runIds: string[],
    onProgress: (runId: string, progress: RunProgress) => void,
    onFailed?: (runId: string) => void,
  ): void => {
    for (const runId of runIds) {
      if (reading.current.size >= max) break;
      if (reading.current.has(runId)) continue;
      const failed = failedAt.current.get(runId);
      if (failed !== undefined && Date.now() - failed < retryFailedMs) continue;
      reading.current.add(runId);
      api<RunProgress>('GET', runPath(runId))
        .then(
          (progress) => {
            failedAt.current.delete(runId);
            onProgress(runId, progress);
          },
          () => {
            failedAt.current.set(runId, Date.now());
            onFailed?.(runId);
          },
        )
        .finally(() => reading.current.delete(runId));
    }
  };
}
