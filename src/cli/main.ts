/**
 * The `baton` command line. Each command is a thin shell over the typed client, the worker or
 * the server helpers; errors print as one line with what to do, and set a documented exit code.
 */
import { Runtime } from '@temporalio/worker';
import { Command, CommanderError } from 'commander';
import type * as Commands from './commands';
import type * as Demo from './demo';
import { EXIT, exitCodeFor, oneLine } from './exit-codes';
import { closeSharedEventBuses } from '../streams';
import { endQuietlyOnClosedPipe } from './output';
import { runtimeOptions } from './runtime';
import type * as ServerCommand from './server-command';
import type * as WorkerCommand from './worker-command';

/**
 * `baton worker` registers only its own command: the other commands' modules (the client, config
 * loading, zod schemas, YAML) stay unloaded in a worker, which may run for weeks with thousands of
 * parked runs (docs/operations.md#baton-worker-memory-defaults). Commands load their code when run.
 */
const workerOnly = process.argv[2] === 'worker';

// Set before any subcommand is added: subcommands copy the setting, so their usage errors exit 2 too.
const program = new Command().exitOverride();

program
  .name('baton')
  .description('Durable LLM agent workflows on Temporal.')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Environment:
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY   the Temporal cluster every command uses (default 127.0.0.1:7233, e.g. \`baton server\`);
                                                           when unset, \`baton run\` and \`baton demo\` start a dev server of their own
  OPENAI_API_KEY, OPENAI_BASE_URL                          OpenAI, or an OpenAI-compatible endpoint (read by the worker only)
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL                    Anthropic (read by the worker only)
  BATON_TASK_QUEUE                                         task queue of workers and runs (default: baton)
  BATON_TOOLS                                              tools module that worker, run and validate load (as --tools)
  BATON_MAX_CONCURRENT_ACTIVITIES                          worker: model and tool calls at once (default 500)
  BATON_MAX_CONCURRENT_WORKFLOW_TASKS                      worker: workflow tasks at once (default 100)
  BATON_MAX_CACHED_WORKFLOWS                               worker: runs kept in memory between tasks (default 50)
  BATON_SHUTDOWN_GRACE                                     worker: how long SIGTERM lets running calls finish (default 10m, as --shutdown-grace)
  BATON_BATCH_FLUSH_MS                                     worker: how often a batch fan-out records finished calls, in ms (default 1000; docs/scale.md)
  BATON_LOG_LEVEL                                          SDK log level: TRACE, DEBUG, INFO, WARN, ERROR (default: INFO for worker, else ERROR)
  BATON_ALLOWED_ENDPOINTS                                  worker: endpoints model calls may use, each with its key variables (see \`baton worker --help\`)
  BATON_API_TOKEN                                          \`baton api\`: bearer token every request must carry
  BATON_CODEC_KEYS                                         encrypt payloads and memos at rest: "k2:<base64 32 bytes>,k1:<base64>" (first encrypts; docs/encryption.md)
  BATON_PAYLOAD_STORE                                      where payloads of 16 KiB or more go, history holding their reference: file:///dir, s3://bucket/prefix or off (default ~/.cache/baton/payloads; docs/operations.md)
  BATON_WORKER_HEAP_MB                                     worker: V8 heap limit of \`baton worker\` in MB (default 160; 0: Node's default)
  BATON_TEMPORAL_CACHE_DIR                                 where a Temporal CLI built for the dev server is cached

Exit codes:
  0 success   1 the run failed (replay: the code no longer matches the history)   2 bad input (usage, ensemble, profile, settings)
  3 Temporal (or a worker a running run needs) unreachable   4 internal error   130 interrupted (SIGINT/SIGTERM)`,
  );

if (!workerOnly) {
  program
    .command('demo')
    .description(
      'Start a dev server (unless TEMPORAL_ADDRESS is set), a worker, and a demo run; print each step and the usage',
    )
    .option('--topic <text>', 'what the demo chain writes about')
    .action(async (o: { topic?: string }) => {
      const { runDemo } = require('./demo') as typeof Demo;
      await runDemo(o.topic ? { topic: o.topic } : {});
    });
}

program
  .command('worker')
  .description(
    'Run a worker: it executes runs from the task queue until SIGINT/SIGTERM (scale out by starting more)',
  )
  .option('--task-queue <name>', 'task queue to poll (default: BATON_TASK_QUEUE or baton)')
  .option('--max-activities <n>', 'model and tool calls running at once (default 500)')
  .option('--tools <module>', 'register the tools this module exports (default: BATON_TOOLS)')
  .option(
    '--shutdown-grace <duration>',
    'on SIGTERM/SIGINT stop polling and let running calls finish this long, e.g. 10m, 90s (default: BATON_SHUTDOWN_GRACE or 10m)',
  )
  .option(
    '--config <file>',
    'worker config file (YAML): allowed_endpoints, a list of { url, keys } this worker may call (see below); scripts and mcp_servers runs may use (docs/tools.md)',
  )
  .addHelpText(
    'after',
    `
Shutdown (rolling deploys): the first SIGTERM or SIGINT stops polling at once and lets running model
and tool calls finish, up to --shutdown-grace (BATON_SHUTDOWN_GRACE, default 10m); calls still running
then are cancelled and retried by another worker. The worker exits 0 once drained. A second signal exits
at once (130). On Kubernetes set terminationGracePeriodSeconds above the grace time (e.g. 660 for 10m),
or the kubelet's SIGKILL cuts the drain short.

Keys and endpoints (docs/security.md):
  A worker sends a key only where its operator allows. Allowed by default: https://api.openai.com (OPENAI_API_KEY),
  https://api.anthropic.com (ANTHROPIC_API_KEY), and OPENAI_BASE_URL / ANTHROPIC_BASE_URL when set (each with its
  provider's key). Open more with
    BATON_ALLOWED_ENDPOINTS='https://llm.internal:8443/v1=INTERNAL_API_KEY,OTHER_API_KEY; http://127.0.0.1:11434'
  (entries separated by spaces or ';'; URL=VAR,VAR binds the key variables that endpoint may receive; a URL alone
  allows calls without a key), or with --config worker.yaml:
    allowed_endpoints:
      - { url: https://llm.internal:8443/v1, keys: [INTERNAL_API_KEY] }
      - { url: http://127.0.0.1:11434 }
  Scheme, host and port must match exactly; a path is a prefix. A run naming any other endpoint, or another key
  for an allowed one, fails before any request with EndpointNotAllowed (not retried).

Metrics (docs/observability.md): BATON_METRICS_PORT=9464 (all interfaces) or 127.0.0.1:9464 serves Prometheus
metrics at /metrics: the Temporal SDK's (temporal_*) and Baton's baton_model_tokens, baton_model_cost_microusd,
baton_model_calls and baton_tool_calls (by outcome), and the gauges baton_gates_waiting and baton_runs_waiting
(of the runs on the worker's task queue, read every BATON_GATES_GAUGE_INTERVAL, default 15s).

Logs go to standard error; BATON_LOG_FORMAT=json writes one JSON object per line (level, time, message, runId,
and step on a call's lines),
BATON_LOG_LEVEL=TRACE|DEBUG|INFO|WARN|ERROR sets the level (default INFO).`,
  )
  .action(
    async (o: {
      taskQueue?: string;
      maxActivities?: string;
      tools?: string;
      shutdownGrace?: string;
      config?: string;
    }) => {
      const { runWorkerCommand } = require('./worker-command') as typeof WorkerCommand;
      await runWorkerCommand(o);
    },
  );

if (!workerOnly) {
  program
    .command('server')
    .description('Start a local Temporal dev server with its Web UI, tuned for Baton; runs until Ctrl-C')
    .option('--port <n>', 'gRPC port', '7233')
    .option('--ui-port <n>', 'Web UI port', '8233')
    .option('--db-file <path>', 'keep workflows in this SQLite file across restarts (default: in memory)')
    .action(async (o: { port: string; uiPort: string; dbFile?: string }) => {
      const { runServerCommand } = require('./server-command') as typeof ServerCommand;
      await runServerCommand(o);
    });

  // Command groups register themselves, one file each under ./commands.
  for (const register of (require('./commands') as typeof Commands).commandGroups) register(program);
}

async function main(): Promise<void> {
  endQuietlyOnClosedPipe();
  try {
    // Before anything else touches the SDK: the first use would install a default runtime.
    Runtime.install(runtimeOptions(process.argv));
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
      return;
    }
    process.stderr.write(`baton: ${oneLine(err)}\n`);
    process.exitCode = exitCodeFor(err);
    // Cleanup is done; a wait the interrupt cut short (a long-poll) must not keep the process alive.
    if ((err as Error)?.name === 'InterruptedError') process.exit();
  } finally {
    // Redis connections of the event bus (BATON_REDIS_URL) must not keep the command alive.
    await closeSharedEventBuses().catch(() => {});
    await releaseRuntime();
  }
}

/**
 * A runtime that forwards core logs holds the event loop open until it shuts down, which the SDK
 * does only when its last worker or native connection closes: commands that never opened one
 * (help, list, status) would not end. Shut it down once the command is done, if nothing uses it.
 */
async function releaseRuntime(): Promise<void> {
  const runtime = Runtime._instance as unknown as { shutdownIfIdle(): Promise<void> } | undefined;
  await runtime?.shutdownIfIdle().catch(() => {});
}

void main();
