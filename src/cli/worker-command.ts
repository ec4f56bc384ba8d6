import { closeSharedEventBuses, redisUrlFromEnv } from '../streams';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { msToNumber } from '@temporalio/common/lib/time';
import { Runtime, type Worker } from '@temporalio/worker';
import { EndpointPolicy, loadWorkerConfig } from '../activities/endpoints';
import type { BatonClient } from '../client';
import { loadWorkerResources } from '../activities/worker-allows';
import { tracingFromEnv } from '../telemetry';
import { gatesGaugeIntervalMs, startGatesGauge, type GatesGauge } from '../telemetry/gates-gauge';
import { commandNote } from '../telemetry/logging';
import { prometheusBindAddress } from '../telemetry/metrics';
import { createWorker, DEFAULT_SHUTDOWN_GRACE, parseShutdownGrace, workerSettingsFromEnv } from '../worker';
import { connectNative } from './connect';
import { BadInputError, EXIT } from './exit-codes';
import { loadToolsModule } from './tools-module';

/** Runs kept in memory between tasks by `baton worker` (BATON_MAX_CACHED_WORKFLOWS); see docs/operations.md. */
export const CLI_MAX_CACHED_WORKFLOWS = 50;

/** `baton worker`: connect where TEMPORAL_ADDRESS (or the Temporal config profile) says and poll until stopped. */
export async function runWorkerCommand(o: {
  taskQueue?: string;
  maxActivities?: string;
  tools?: string;
  shutdownGrace?: string;
  config?: string;
}): Promise<void> {
  // bin/worker-memory.js started this process with a heap limit and two malloc arenas.
  exitWithParent();
  const tools = loadToolsModule(o.tools ?? process.env.BATON_TOOLS);
  const max = o.maxActivities === undefined ? undefined : Number(o.maxActivities);
  if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
    throw new BadInputError(`--max-activities ${o.maxActivities} is not a positive whole number`);
  }
  // Settings are checked before connecting, so a typo is reported as such (exit 2).
  const settings = workerSettingsFromEnv();
  const graceMs =
    parseShutdownGrace(o.shutdownGrace, '--shutdown-grace') ??
    settings.shutdownGraceTime ??
    msToNumber(DEFAULT_SHUTDOWN_GRACE);
  const allowedEndpoints = o.config ? loadWorkerConfig(o.config).allowedEndpoints : [];
  const resources = o.config ? loadWorkerResources(o.config) : { scripts: {}, mcpServers: {} };
  const policy = EndpointPolicy.fromEnv(process.env, allowedEndpoints);
  const taskQueue = o.taskQueue ?? settings.taskQueue;
  const metrics = prometheusBindAddress(process.env) !== undefined;
  const gaugeInterval = metrics ? gatesGaugeIntervalMs(process.env) : 0;
  const config = loadClientConnectConfig();
  const address = config.connectionOptions.address ?? '127.0.0.1:7233';
  const namespace = config.namespace ?? 'default';
  const connection = await connectNative({ ...config.connectionOptions, address });
  let stopOnSignals: (() => void) | undefined;
  let gauge: { client: BatonClient; gauge: GatesGauge } | undefined;
  try {
    const worker = await createWorker({
      connection,
      namespace,
      taskQueue,
      ...(max !== undefined && { maxConcurrentActivities: max }),
      maxCachedWorkflows: settings.maxCachedWorkflows ?? CLI_MAX_CACHED_WORKFLOWS,
      tools,
      shutdownGraceTime: graceMs,
      allowedEndpoints,
      scripts: resources.scripts,
      mcpServers: resources.mcpServers,
    });
    const toolNote = tools.length ? `, tools: ${tools.map((t) => t.name).join(', ')}` : '';
    note(
      `polling task queue '${taskQueue}' at ${address}${toolNote}; Ctrl-C or SIGTERM drains (up to ${formatDuration(graceMs)})`,
    );
    note(`model calls may go to ${policy.summary()}`);
    const allowed = [
      ...Object.keys(resources.scripts).map((n) => `script ${n}`),
      ...Object.keys(resources.mcpServers).map((n) => `MCP server ${n}`),
    ];
    if (allowed.length) note(`runs may use: ${allowed.join(', ')}`);
    const redisUrl = redisUrlFromEnv(process.env);
    note(
      redisUrl
        ? `streaming events through Redis at ${redisUrl.replace(/\/\/[^@/]*@/, '//***@')} (BATON_REDIS_URL)`
        : 'streaming events in this process only (set BATON_REDIS_URL for clients elsewhere)',
    );
    stopOnSignals = reportDrain(worker, graceMs);
    if (metrics) gauge = await startGateGauges(namespace, taskQueue, gaugeInterval);
    await worker.run();
    note('stopped');
  } finally {
    stopOnSignals?.();
    await gauge?.gauge.stop();
    await gauge?.client.close().catch(() => undefined);
    // Spans still buffered go out before the process ends (a no-op without OTEL_EXPORTER_OTLP_ENDPOINT).
    await tracingFromEnv(process.env)
      ?.shutdown()
      .catch(() => undefined);
    await connection.close();
    await closeSharedEventBuses();
  }
}

/** When bin/worker-memory.js started this process: exit at once when its starter is gone (as if killed with it). */
function exitWithParent(): void {
  if (process.env.BATON_WORKER_CHILD !== '1' || !process.connected) return;
  process.on('disconnect', () => process.exit(137));
  // The channel must not keep the process alive by itself.
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
}

/**
 * With metrics on: the `baton_gates_waiting` and `baton_runs_waiting` gauges on the Prometheus
 * endpoint, for the runs on the worker's task queue, read from visibility every `intervalMs`.
 */
async function startGateGauges(
  namespace: string,
  taskQueue: string,
  intervalMs: number,
): Promise<{ client: BatonClient; gauge: GatesGauge }> {
  // Loaded with metrics only: a worker does not otherwise need the client's code.
  const { BatonClient } = require('../client') as typeof import('../client');
  const client = await BatonClient.connect({ namespace, tracing: false });
  const gauge = startGatesGauge({
    meter: Runtime.instance().metricMeter,
    count: () => client.countPendingApprovals({ taskQueue }),
    intervalMs,
    tags: { namespace, taskQueue },
    onError: (err) =>
      note(`could not count the gates waiting (the gauge keeps its last value): ${(err as Error).message}`),
  });
  return { client, gauge };
}

/**
 * The SDK's runtime turns the first SIGINT/SIGTERM into `worker.shutdown()` (stop polling, let
 * running calls finish within the grace time). This says so, and makes a second signal exit at
 * once: the calls still running are then retried by another worker, and paid for again.
 */
function reportDrain(worker: Worker, graceMs: number): () => void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    const running = worker.getStatus().numInFlightActivities;
    if (++signals === 1) {
      note(
        `${signal}: stopped polling; waiting up to ${formatDuration(graceMs)} for ${running} running call(s) to finish (send ${signal} again to exit at once)`,
      );
      return;
    }
    note(`${signal} again: exiting now; ${running} call(s) still running will be retried by another worker`);
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}

/** A line of the worker's own on standard error (JSON with BATON_LOG_FORMAT=json). */
function note(message: string): void {
  commandNote('baton worker', message);
}
