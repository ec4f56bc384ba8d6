/** How the `baton` command sets up the Temporal SDK's runtime: where logs go, which signals it traps. */
import { DefaultLogger, makeTelemetryFilterString, type RuntimeOptions } from '@temporalio/worker';
import { jsonLogFunction, logFormatFromEnv } from '../telemetry/logging';
import { prometheusBindAddress } from '../telemetry/metrics';

/**
 * The SDK logs every worker event; a command's own output says what matters. A long-running
 * worker keeps INFO. BATON_LOG_LEVEL overrides either.
 *
 * Standard output carries only a command's output (`-o json` must parse), so every log goes to
 * standard error: the SDK's logger writes there, and the Rust core's own logs, which by default
 * it prints to standard output, are forwarded to that logger at the same level.
 *
 * The SDK also traps SIGINT/SIGTERM by default, to drain workers: right for `baton worker`, but
 * every other command would swallow the first Ctrl-C. They get Node's default, or (run, demo)
 * their own handling, which stops the local worker and cleans up.
 *
 * BATON_METRICS_PORT serves the SDK's metrics and Baton's counters for Prometheus (at /metrics).
 * A bad value throws MetricsSettingsError naming it. BATON_LOG_FORMAT=json writes every SDK log line
 * as one JSON object (pino) with the run id as `runId`.
 */
export function runtimeOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): RuntimeOptions {
  const isWorker = argv[2] === 'worker';
  const level = (env.BATON_LOG_LEVEL ?? (isWorker ? 'INFO' : 'ERROR')).toUpperCase();
  const levels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
  const chosen = levels.find((l) => l === level) ?? 'ERROR';
  const bindAddress = prometheusBindAddress(env);
  const json = logFormatFromEnv(env) === 'json';
  return {
    logger: json ? new DefaultLogger(chosen, jsonLogFunction()) : new DefaultLogger(chosen),
    telemetryOptions: {
      logging: {
        forward: {},
        filter: makeTelemetryFilterString({ core: chosen, other: chosen === 'ERROR' ? 'ERROR' : 'WARN' }),
      },
      ...(bindAddress && { metrics: { prometheus: { bindAddress } } }),
    },
    ...(!isWorker && { shutdownSignals: [] as NodeJS.Signals[] }),
  };
}
