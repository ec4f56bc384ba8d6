/**
 * Gauges of the gates waiting for a decision (`baton_gates_waiting`, `baton_runs_waiting`), read
 * from Temporal's visibility store by `baton worker` when BATON_METRICS_PORT is set. They count the
 * runs on the worker's task queue, not the calls of one worker: every worker polling a task queue
 * reports the same numbers, so aggregate with `max by (taskQueue)`, not `sum`.
 */
import type { MetricMeter } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';

export const GATE_METRIC = {
  gates: 'baton_gates_waiting',
  runs: 'baton_runs_waiting',
} as const;

/** How often the gauges are read when BATON_GATES_GAUGE_INTERVAL does not say. */
export const DEFAULT_GATES_GAUGE_INTERVAL_MS = 15_000;

/** BATON_GATES_GAUGE_INTERVAL is not a duration; the message names it. */
export class GatesGaugeSettingsError extends Error {
  override name = 'GatesGaugeSettingsError';
}

/** The refresh interval BATON_GATES_GAUGE_INTERVAL asks for (`15s`, `1m`, `500ms`), in ms; at least 100 ms. */
export function gatesGaugeIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BATON_GATES_GAUGE_INTERVAL?.trim();
  if (!raw) return DEFAULT_GATES_GAUGE_INTERVAL_MS;
  let ms: number;
  try {
    ms = msToNumber(raw as `${number}s`);
  } catch {
    ms = NaN;
  }
  if (!Number.isFinite(ms) || ms < 100)
    throw new GatesGaugeSettingsError(
      `BATON_GATES_GAUGE_INTERVAL=${raw} is not a duration of at least 100ms: give e.g. 15s or 1m`,
    );
  return ms;
}

export interface GatesGauge {
  /** Stops refreshing; resolves once a refresh under way has ended. */
  stop(): Promise<void>;
}

/**
 * Sets the gauges from `count()` at once and then every `intervalMs`. A failed read keeps the last
 * values and is reported through `onError` (once per distinct message, until a read succeeds).
 */
export function startGatesGauge(opts: {
  meter: MetricMeter;
  count: () => Promise<{ runs: number; gates: number }>;
  intervalMs: number;
  tags?: Record<string, string>;
  onError?: (err: unknown) => void;
}): GatesGauge {
  const gates = opts.meter.createGauge(GATE_METRIC.gates, 'int', 'gates', 'Gates waiting for a decision');
  const runs = opts.meter.createGauge(
    GATE_METRIC.runs,
    'int',
    'runs',
    'Running runs with at least one gate waiting',
  );
  const tags = opts.tags ?? {};
  let lastError: string | undefined;
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  const refresh = (): void => {
    current = opts.count().then(
      (n) => {
        if (stopped) return;
        gates.set(n.gates, tags);
        runs.set(n.runs, tags);
        lastError = undefined;
      },
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        if (message !== lastError) opts.onError?.(err);
        lastError = message;
      },
    );
  };
  refresh();
  const timer = setInterval(() => {
    // One read at a time: a slow visibility store skips a beat rather than piling reads up.
    void current.then(() => !stopped && refresh());
  }, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
