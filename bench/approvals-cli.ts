/**
 * The `cli` side of bench/approvals.ts: `baton worker` as a user starts it (bin/baton.js from a
 * build, no flags, started as a command: sh execs node with a heap limit and two malloc arenas),
 * measured over its process and any it starts, and the settings bare SDK code gets to match it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `baton worker` runs with by default (src/cli/worker-command.ts, src/worker.ts,
 * bin/worker-memory.js), for the bare side of `--defaults`; the others are the SDK's defaults.
 */
export const CLI_SETTINGS = {
  maxCachedWorkflows: 50,
  maxConcurrentWorkflowTaskExecutions: 100,
  workflowThreadPoolSize: 1,
  maxConcurrentWorkflowTaskPolls: 10,
  nonStickyToStickyPollRatio: 0.2,
  maxOldSpaceMb: 160,
  maxSemiSpaceMb: 8,
  mallocArenas: 2,
};

/** RSS and peak RSS (MB) of a process and its descendants, summed. */
export function treeMemory(pid: number): { rss: number; hwm: number } {
  const pids = [pid, ...descendants(pid)];
  let rss = 0;
  let hwm = 0;
  for (const p of pids) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
      rss += kb('VmRSS') / 1024;
      hwm += kb('VmHWM') / 1024;
    } catch {
      // gone
    }
  }
  return { rss, hwm };
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d), ...descendants(Number(d)));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Start `baton worker` (from dist/; run `npm run build` first) and wait until it polls. With a
 * `metricsAddress` it runs with BATON_METRICS_PORT, which is not a default: with metrics on, the
 * worker also keeps the gates gauges, listing every parked run from visibility every 15 s.
 */
export async function startCliWorker(
  address: string,
  namespace: string,
  taskQueue: string,
  metricsAddress?: string,
): Promise<ChildProcess> {
  const root = join(__dirname, '..');
  if (!existsSync(join(root, 'dist', 'workflow-bundle.js')))
    throw new Error('the cli side runs `baton worker` from a build: run `npm run build` first');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    ...(metricsAddress && { BATON_METRICS_PORT: metricsAddress }),
    BATON_LOG_LEVEL: 'WARN',
  };
  for (const k of [
    'BATON_FROM_SOURCE',
    'NODE_OPTIONS',
    'MALLOC_ARENA_MAX',
    'BATON_MAX_CACHED_WORKFLOWS',
    ...(metricsAddress ? [] : ['BATON_METRICS_PORT']),
  ])
    delete env[k];
  // For looking inside (e.g. a --require that logs heap statistics); the measured runs leave it unset.
  if (process.env.BENCH_CLI_NODE_OPTIONS) env.NODE_OPTIONS = process.env.BENCH_CLI_NODE_OPTIONS;
  // Started as a command, the way `baton worker` is run (sh execs node with the settings: one process).
  const child = spawn(join(root, 'bin', 'baton.js'), ['worker', '--task-queue', taskQueue], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
      if (stderr.includes('polling task queue')) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`baton worker exited with ${code} before polling:\n${stderr}`)),
    );
  });
  return child;
}
