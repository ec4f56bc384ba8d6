/**
 * Build and run a Baton worker: it polls a task queue, runs the run workflow and the model
 * activities. Scale out by starting more workers on the same task queue.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import {
  createActivities,
  type AllowedEndpoint,
  type McpServerConfig,
  type MemoryStore,
  type Notifier,
  type ScriptConfig,
  type ToolDefinition,
} from './activities';
import { EndpointPolicy } from './activities/endpoints';
import { McpHub } from './activities/mcp';
import { dataConverterFromEnv } from './codec';
import type { EventBus } from './streams';
import { tracingFromEnv, tracingWorkerOptions, type Tracing } from './telemetry';
import { metricsActivityInterceptors, STEP_WORKFLOW_MODULE } from './telemetry/metrics';

export const DEFAULT_TASK_QUEUE = 'baton';

/** Baton's workflows bundled by `npm run build` (dist/workflow-bundle.js), used when present. */
export const PREBUILT_BUNDLE_FILE = 'workflow-bundle.js';

/** Baton's workflows module (src/workflows, or dist/workflows in a build), the root of its bundle. */
export function batonWorkflowsModule(): string {
  return require.resolve('./workflows');
}

/**
 * The bundler options every bundle of Baton's own workflows is built with (`npm run build`'s
 * prebuilt bundle, `createWorker` bundling src/workflows, the test harness): Baton's workflow
 * modules are preloaded (the SDK's `preloadModules`), so the worker's workflow context evaluates
 * them once and every run shares them, instead of one copy of each module per cached or replayed
 * run. That is safe only because no module in that bundle keeps state of its own between runs
 * (no module-level `let`, no module-level Map or cache filled by a run; the two module-level
 * WeakMaps are keyed by a run's own RunState): test/unit/workflow-preload.test.ts checks the
 * modules, test/integration/workflow-preload.test.ts runs two runs side by side with it.
 */
export function batonBundlerOptions(): { preloadModules: string[] } {
  return { preloadModules: [batonWorkflowsModule()] };
}

/**
 * How long a stopping worker lets its running model and tool calls finish (default 10 minutes:
 * longer than a typical model call, so a rolling deploy never pays for a call twice).
 */
export const DEFAULT_SHUTDOWN_GRACE: Duration = '10 minutes';

export interface BatonWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  /** Default: BATON_TASK_QUEUE or 'baton'. */
  taskQueue?: string;
  /** The environment model calls read keys and base URLs from (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Endpoints model calls may use besides the providers' hosts, `*_BASE_URL` and BATON_ALLOWED_ENDPOINTS (docs/security.md). */
  allowedEndpoints?: AllowedEndpoint[];
  /** Model and tool calls running at once, as activities or (with `localActivities`) local activities; give more than the widest fan-out (default 500). */
  maxConcurrentActivities?: number;
  /** Workflow tasks running at once (default 100). */
  maxConcurrentWorkflowTasks?: number;
  /** Runs kept in memory between tasks; lower it to bound memory with many parked runs (default 1000). */
  maxCachedWorkflows?: number;
  /** Tools agents may call on this worker. */
  tools?: ToolDefinition[];
  /** Where escalated approval gates are announced. */
  notifier?: Notifier;
  /** Scripts `kind: script` steps may run, by name (docs/tools.md#script-steps). */
  scripts?: Record<string, ScriptConfig>;
  /** MCP servers whose tools agents call as `<server>.<tool>` (docs/tools.md#mcp-servers). */
  mcpServers?: Record<string, McpServerConfig>;
  /** Long-term memory store (docs/memory.md); default: BATON_MEMORY_URL (postgres://) or the embedded LanceDB store in BATON_MEMORY_DIR. */
  memoryStore?: MemoryStore;
  /** Where model calls stream deltas and step events: default Redis Streams at BATON_REDIS_URL / REDIS_URL, else this process's memory (docs/streaming.md). */
  events?: EventBus;
  /** Your own workflows module (it should re-export Baton's: `export * from 'baton/workflows'`). */
  workflowsPath?: string;
  /** A prebuilt workflow bundle (tests build one and share it); default: bundle src/workflows. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * On shutdown (SIGINT/SIGTERM or `worker.shutdown()`) the worker stops polling at once and lets
   * running calls finish for this long; calls still running then are cancelled and retried by
   * another worker. A duration ('10m', '90s') or milliseconds. Default: BATON_SHUTDOWN_GRACE or 10 minutes.
   */
  shutdownGraceTime?: Duration;
  /**
   * Where spans go (docs/observability.md). Default: OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is
   * set (in `env`, else this process's), else no tracing. `false`: none. With a prebuilt
   * `workflowBundle`, the bundle must include TRACING_WORKFLOW_MODULE for workflow spans.
   */
  tracing?: Tracing | false;
  /** Extra Temporal worker options, applied last. */
  overrides?: Partial<WorkerOptions>;
}

/** A worker setting from the environment (BATON_MAX_*, BATON_SHUTDOWN_GRACE) or a flag is not usable; the message names it. */
export class WorkerSettingsError extends Error {
  override name = 'WorkerSettingsError';
}

/** Read worker settings from the environment, refusing values that are not whole numbers. */
export function workerSettingsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const int = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new WorkerSettingsError(`${name}=${raw} is not a positive whole number`);
    return n;
  };
  return {
    taskQueue: env.BATON_TASK_QUEUE || DEFAULT_TASK_QUEUE,
    maxConcurrentActivities: int('BATON_MAX_CONCURRENT_ACTIVITIES'),
    maxConcurrentWorkflowTasks: int('BATON_MAX_CONCURRENT_WORKFLOW_TASKS'),
    maxCachedWorkflows: int('BATON_MAX_CACHED_WORKFLOWS'),
    shutdownGraceTime: parseShutdownGrace(env.BATON_SHUTDOWN_GRACE, 'BATON_SHUTDOWN_GRACE'),
  };
}

/**
 * A shutdown grace period as milliseconds: a duration with a unit ('10m', '90s', '1 hour', '0s').
 * `what` names where the value came from (the variable or the flag) in the error.
 */
export function parseShutdownGrace(raw: string | undefined, what: string): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let ms: number;
  try {
    // A bare number would silently be milliseconds (not seconds, as in terminationGracePeriodSeconds).
    ms = /[a-z]\s*$/i.test(raw.trim()) ? msToNumber(raw.trim() as Duration) : NaN;
  } catch {
    ms = NaN;
  }
  if (!Number.isFinite(ms) || ms < 0)
    throw new WorkerSettingsError(
      `${what}=${raw} is not a duration with a unit: give e.g. 10m, 90s or 0s (0s cancels running calls at once)`,
    );
  return ms;
}

/**
 * Create (but do not run) a worker. Call `worker.run()`; it returns after `worker.shutdown()`,
 * which the SDK also calls on SIGINT and SIGTERM: polling stops at once and running calls get
 * `shutdownGraceTime` to finish (drain) before they are cancelled.
 *
 * @example const worker = await createWorker({ connection: await NativeConnection.connect({ address }) });
 */
export async function createWorker(opts: BatonWorkerOptions): Promise<Worker> {
  const fromEnv = workerSettingsFromEnv(opts.env ?? process.env);
  const tracing =
    opts.tracing === false ? undefined : (opts.tracing ?? tracingFromEnv(opts.env ?? process.env));
  // A build ships Baton's workflows bundled (without the tracing interceptors): no webpack at start.
  const prebuilt = join(__dirname, PREBUILT_BUNDLE_FILE);
  const usePrebuilt = !opts.workflowBundle && !opts.workflowsPath && !tracing && existsSync(prebuilt);
  const source = opts.workflowBundle
    ? { workflowBundle: opts.workflowBundle }
    : usePrebuilt
      ? { workflowBundle: { codePath: prebuilt } }
      : opts.workflowsPath
        ? { workflowsPath: opts.workflowsPath }
        : { workflowsPath: batonWorkflowsModule(), bundlerOptions: batonBundlerOptions() };
  const slots = opts.maxConcurrentActivities ?? fromEnv.maxConcurrentActivities ?? 500;
  // BATON_CODEC_KEYS (in opts.env, else this process's) encrypts payloads and the memo at rest.
  const dataConverter = dataConverterFromEnv(opts.env ?? process.env);
  const traced = tracing && tracingWorkerOptions(tracing, opts.workflowBundle !== undefined);
  const env = opts.env ?? process.env;
  // One MCP session per server per worker process, closed when the worker stops.
  const mcp = new McpHub(
    opts.mcpServers ?? {},
    EndpointPolicy.fromEnv(env, opts.allowedEndpoints ?? []),
    env,
  );
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? fromEnv.taskQueue,
    ...source,
    activities: createActivities({
      ...(opts.env && { env: opts.env }),
      ...(opts.allowedEndpoints && { allowedEndpoints: opts.allowedEndpoints }),
      ...(opts.tools && { tools: opts.tools }),
      ...(opts.notifier && { notifier: opts.notifier }),
      ...(opts.scripts && { scripts: opts.scripts }),
      mcp,
      ...(opts.memoryStore && { memoryStore: opts.memoryStore }),
      ...(opts.events && { events: opts.events }),
    }),
    maxConcurrentActivityTaskExecutions: slots,
    // Model calls run as local activities with `localActivities: true`: same slot count (the SDK's default is 100).
    maxConcurrentLocalActivityExecutions: slots,
    maxConcurrentWorkflowTaskExecutions:
      opts.maxConcurrentWorkflowTasks ?? fromEnv.maxConcurrentWorkflowTasks ?? 100,
    maxCachedWorkflows: opts.maxCachedWorkflows ?? fromEnv.maxCachedWorkflows ?? 1000,
    shutdownGraceTime: opts.shutdownGraceTime ?? fromEnv.shutdownGraceTime ?? DEFAULT_SHUTDOWN_GRACE,
    ...(dataConverter && { dataConverter }),
    ...traced,
    // Baton's counters (tokens, cost, calls by outcome) go to the SDK's metric meter: see docs/observability.md.
    // and each call's step goes on its log lines (a header set by STEP_WORKFLOW_MODULE).
    interceptors: {
      ...traced?.interceptors,
      ...(!opts.workflowBundle && {
        workflowModules: [STEP_WORKFLOW_MODULE, ...(traced?.interceptors?.workflowModules ?? [])],
      }),
      activity: [...(traced?.interceptors?.activity ?? []), ...metricsActivityInterceptors()],
    },
    ...opts.overrides,
  });
  const run = worker.run.bind(worker);
  worker.run = async () => {
    try {
      return await run();
    } finally {
      await mcp.close();
    }
  };
  return worker;
}
