/**
 * Many runs parked on approval, one worker: the worker's memory and the latency from a decision
 * to the run moving on, for Baton beside bare Temporal SDK code doing the same work (an Update
 * handler and a `condition()` with a 24-hour deadline), on the same server in the same run.
 *
 *   npx tsx bench/approvals.ts                 # 10,000 runs each, 200 approvals sampled
 *   npx tsx bench/approvals.ts --runs 2000 --sample 100 --cache 100
 *
 * Starts its own tuned dev server (acquireTemporal; TEMPORAL_ADDRESS uses that cluster instead),
 * one worker per side in a child process whose RSS is read from /proc/<pid>/status, and writes
 * bench/results/approvals.json (with a `markdown` table for docs/benchmarks.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { BatonClient } from '../src/client';
import { batonBundlerOptions } from '../src/worker';
import { acquireTemporal, DEV_SERVER_DYNAMIC_CONFIG, freePort, type TemporalHandle } from '../src/server';
import type { BenchWorkerConfig } from './approval-worker';
import { approveUpdate } from './bare/approval-workflow';
import { CLI_SETTINGS, startCliWorker, treeMemory } from './approvals-cli';
import { approvalDefinition } from './approval-definition';

interface Settings {
  runs: number;
  sample: number;
  /** Runs being started at once. */
  startConcurrency: number;
  maxCachedWorkflows: number;
  maxConcurrentWorkflowTaskExecutions: number;
  workflowThreadPoolSize: number;
  maxConcurrentWorkflowTaskPolls: number;
  /** Share of workflow pollers on the normal queue, where every new run's first task arrives. */
  nonStickyToStickyPollRatio: number;
  /** V8 old-space limit of the worker process, in MB (`--max-old-space-size`); 0: Node's default. */
  maxOldSpaceMb: number;
  /** V8 semi-space of the worker process, in MB (`--max-semi-space-size`); 0: Node's default. */
  maxSemiSpaceMb: number;
  /** glibc malloc arenas of the worker process (MALLOC_ARENA_MAX); 0: glibc's default (8 per core). */
  mallocArenas: number;
  /** Modules the Baton bundle shares across runs instead of loading per run (bundleWorkflowCode's preloadModules); default: as shipped (batonBundlerOptions). */
  preloadModules: string[];
  sides: Side[];
}
/**
 * `cli`: `baton worker` as shipped (bin/baton.js from a build: its own defaults, prebuilt bundle,
 * the heap limit and malloc arenas it sets; memory counted over both its processes). `bare`
 * compares with it when run with `--defaults` (bare SDK code on the settings `baton worker` uses).
 */
type Side = 'baton' | 'bare' | 'cli';

const DEFAULTS: Settings = {
  runs: 10_000,
  sample: 200,
  startConcurrency: 64,
  // Measured on 2 cores (see docs/approvals.md): a cached run costs memory, an evicted one is
  // replayed from its short history in a few ms when its decision comes; 50 keeps RSS under 300 MB.
  maxCachedWorkflows: 50,
  maxConcurrentWorkflowTaskExecutions: 20,
  workflowThreadPoolSize: 1,
  maxConcurrentWorkflowTaskPolls: 10,
  nonStickyToStickyPollRatio: 0.2,
  // Without a heap limit V8 lets garbage from thousands of workflow activations pile up (peak
  // about 620 MB at 3,000 runs); 160 MB keeps the heap collected. Two malloc arenas stop glibc
  // keeping freed native memory per thread.
  maxOldSpaceMb: 160,
  maxSemiSpaceMb: 0,
  mallocArenas: 2,
  preloadModules: [],
  sides: ['baton', 'bare'],
};

const TARGET = { rssMb: 300, p50Ms: 100 };
/** Issue 12.3: `baton worker` on its defaults, peak RSS and approve → moved on p95, and within 10% of bare SDK code. */
const CLI_TARGET = { rssMb: 250, p95Ms: 100, ofBare: 1.1 };
const log = (s: string) => void process.stderr.write(`${s}\n`);

function parseArgs(argv: string[]): Settings {
  const s: Settings = { ...DEFAULTS };
  const flags: Record<string, keyof Settings> = {
    '--runs': 'runs',
    '--sample': 'sample',
    '--start-concurrency': 'startConcurrency',
    '--cache': 'maxCachedWorkflows',
    '--wft': 'maxConcurrentWorkflowTaskExecutions',
    '--threads': 'workflowThreadPoolSize',
    '--polls': 'maxConcurrentWorkflowTaskPolls',
    '--heap': 'maxOldSpaceMb',
    '--semi': 'maxSemiSpaceMb',
    '--arenas': 'mallocArenas',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') {
      s.sides = argv[++i]!.split(',') as Side[];
      continue;
    }
    if (a === '--defaults') {
      // `baton worker` with no flags beside bare SDK code on the same settings (see bench/approvals-cli.ts).
      Object.assign(s, CLI_SETTINGS, { sides: ['cli', 'bare'] });
      continue;
    }
    if (a === '--preload') {
      s.preloadModules = argv[++i]!.split(',').filter(Boolean);
      continue;
    }
    if (a === '--ratio') {
      s.nonStickyToStickyPollRatio = Number(argv[++i]);
      continue;
    }
    const key = flags[a];
    const n = Number(argv[++i]);
    if (!key || !Number.isInteger(n) || n <= 0) {
      throw new Error(
        `usage: bench/approvals.ts [--runs N] [--sample N] [--cache N] [--wft N] [--polls N] [--ratio R] [--threads N] [--heap MB] [--start-concurrency N] [--only baton|bare] (bad: ${a})`,
      );
    }
    (s as unknown as Record<string, number>)[key] = n;
  }
  s.sample = Math.min(s.sample, s.runs);
  return s;
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Resident and peak resident memory of a process, in MB. */
function processMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** A seeded PRNG (mulberry32), so every run of the bench approves the same sample. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sampleIndexes(n: number, k: number): number[] {
  const rand = prng(42);
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(rand() * n));
  return [...picked];
}

/** Workflow tasks the worker has completed, read from its Prometheus endpoint. */
async function workflowTasksDone(metricsAddress: string): Promise<{ tasks: number; cached: number }> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    tasks: sum('temporal_workflow_task_execution_latency_count'),
    cached: sum('temporal_sticky_cache_size'),
  };
}

/** Build the worker script into one JS file, so the measured process runs plain Node (no TypeScript loader). */
async function buildWorkerScript(dir: string): Promise<string> {
  const outfile = join(dir, 'approval-worker.js');
  const esbuild = (await import('esbuild')) as typeof import('esbuild');
  await esbuild.build({
    entryPoints: [join(__dirname, 'approval-worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'warning',
    plugins: [sourcePathsPlugin],
  });
  return outfile;
}

/**
 * Baton's source names some modules by `require.resolve('./x')` (the workflow modules and
 * interceptors the SDK's bundler loads by path). Bundled into one file those relative paths would
 * point beside the bundle: write each as the absolute path of its source file instead.
 */
const sourcePathsPlugin: import('esbuild').Plugin = {
  name: 'baton-source-paths',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('require.resolve(')) return undefined;
      const contents = text.replace(/require\.resolve\((['"])(\.[^'"]+)\1\)/g, (whole, _q, spec: string) => {
        const base = join(dirname(args.path), spec);
        const found = [`${base}.ts`, join(base, 'index.ts'), base].find((f) => existsSync(f));
        return found ? JSON.stringify(found) : whole;
      });
      return { contents, loader: 'ts' };
    });
  },
};

async function startWorker(
  script: string,
  config: BenchWorkerConfig,
  s: Pick<Settings, 'maxOldSpaceMb' | 'maxSemiSpaceMb' | 'mallocArenas'>,
): Promise<ChildProcess> {
  const flags = [
    ...(s.maxOldSpaceMb > 0 ? [`--max-old-space-size=${s.maxOldSpaceMb}`] : []),
    ...(s.maxSemiSpaceMb > 0 ? [`--max-semi-space-size=${s.maxSemiSpaceMb}`] : []),
  ];
  const child = spawn(process.execPath, [...flags, script], {
    cwd: join(__dirname, '..'),
    env: {
      ...process.env,
      BENCH_WORKER: JSON.stringify(config),
      ...(s.mallocArenas > 0 && { MALLOC_ARENA_MAX: String(s.mallocArenas) }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('worker-ready') && resolve());
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before polling:\n${stderr}`)));
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

/** Run `fn` over 0..n-1 with at most `limit` at once. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

interface SideResult {
  runs: number;
  startSeconds: number;
  startsPerSecond: number;
  parkSeconds: number;
  rssSettledMb: number;
  rssAfterApprovalsMb: number;
  rssPeakMb: number;
  cachedWorkflowsSettled: number;
  approvals: number;
  acceptedP50Ms: number;
  acceptedP95Ms: number;
  movedOnP50Ms: number;
  movedOnP95Ms: number;
  movedOnMaxMs: number;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

async function runSide(
  side: Side,
  s: Settings,
  ctx: {
    temporal: TemporalHandle;
    client: Client;
    connection: Connection;
    script: string;
    bundles: Record<Side, string>;
  },
): Promise<SideResult> {
  const taskQueue = `bench-approvals-${side}-${process.pid}`;
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  // `baton worker` on its defaults runs without metrics (BATON_METRICS_PORT also starts the gates
  // gauges, a visibility listing of every parked run every 15 s); BENCH_CLI_METRICS=1 turns them on.
  const cliMetrics = side === 'cli' && process.env.BENCH_CLI_METRICS === '1';
  const tasksFromMetrics = side !== 'cli' || cliMetrics;
  const worker =
    side === 'cli'
      ? await startCliWorker(
          ctx.temporal.address,
          ctx.temporal.namespace,
          taskQueue,
          cliMetrics ? metricsAddress : undefined,
        )
      : await startWorker(
          ctx.script,
          {
            mode: side,
            address: ctx.temporal.address,
            namespace: ctx.temporal.namespace,
            taskQueue,
            bundlePath: ctx.bundles[side],
            metricsAddress,
            maxCachedWorkflows: s.maxCachedWorkflows,
            maxConcurrentWorkflowTaskExecutions: s.maxConcurrentWorkflowTaskExecutions,
            workflowThreadPoolSize: s.workflowThreadPoolSize,
            maxConcurrentWorkflowTaskPolls: s.maxConcurrentWorkflowTaskPolls,
            nonStickyToStickyPollRatio: s.nonStickyToStickyPollRatio,
          },
          s,
        );
  const pid = worker.pid!;
  // `baton worker` started as a command is one process; any process it started would be counted too.
  const memory = (p: number) => (side === 'cli' ? treeMemory(p) : processMemory(p));
  try {
    const baton = await BatonClient.connect({
      connection: ctx.connection,
      namespace: ctx.temporal.namespace,
      taskQueue,
    });
    const definition = approvalDefinition;
    const runId = (i: number) => `bench-${side}-${process.pid}-${i}`;
    const start = async (i: number) => {
      const draft = `Draft ${i}: a short text waiting for a person's approval.`;
      if (side !== 'bare') await baton.start(definition, draft, { runId: runId(i) });
      else
        await ctx.client.workflow.start('bareApproval', { workflowId: runId(i), taskQueue, args: [draft] });
    };

    log(`${side}: starting ${s.runs} runs (${s.startConcurrency} at a time)`);
    const t0 = performance.now();
    let started = 0;
    await pool(s.runs, s.startConcurrency, async (i) => {
      await start(i);
      if (++started % 2000 === 0) log(`${side}: ${started} started, worker RSS ${round(memory(pid).rss)} MB`);
    });
    const startSeconds = (performance.now() - t0) / 1000;

    // Parked: the worker has completed every run's first workflow task (the gate is open). Without
    // the worker's metrics: every run shows its open gate in visibility (BatonPendingApprovals).
    const parkedQuery = `TaskQueue = '${taskQueue}' AND BatonPendingApprovals IS NOT NULL`;
    const parked = async () =>
      tasksFromMetrics
        ? (await workflowTasksDone(metricsAddress)).tasks
        : (await ctx.client.workflow.count(parkedQuery)).count;
    for (let n = await parked(), polls = 0; n < s.runs; n = await parked()) {
      // Without search attributes on the server (BATON_SEARCH_ATTRIBUTES) this never ends: say so.
      if (++polls % 30 === 0 && !tasksFromMetrics) log(`${side}: ${n} of ${s.runs} show their gate`);
      await new Promise((r) => setTimeout(r, tasksFromMetrics ? 250 : 1000));
    }
    const parkSeconds = (performance.now() - t0) / 1000;
    log(`${side}: all ${s.runs} parked after ${round(parkSeconds)} s; settling`);
    await new Promise((r) => setTimeout(r, 5000));
    const settled = memory(pid).rss;
    const cachedWorkflowsSettled = tasksFromMetrics ? (await workflowTasksDone(metricsAddress)).cached : NaN;

    // Approve a sample one at a time: from the call to the update's answer, and to the run's end.
    const accepted: number[] = [];
    const movedOn: number[] = [];
    const phase = performance.now();
    const slow: string[] = [];
    for (const i of sampleIndexes(s.runs, s.sample)) {
      const handle = ctx.client.workflow.getHandle(runId(i));
      const a = performance.now();
      const ended = handle.result();
      if (side !== 'bare') await baton.approve(runId(i), { gate: 'approve', by: 'bench' });
      else await handle.executeUpdate(approveUpdate, { args: ['bench'] });
      accepted.push(performance.now() - a);
      await ended;
      movedOn.push(performance.now() - a);
      // When the slow ones came (ms into the approval phase): clustered, something else was running.
      if (movedOn.at(-1)! >= 100) slow.push(`${round(a - phase, 0)}:${round(movedOn.at(-1)!, 0)}`);
    }
    log(`${side}: approvals taking >= 100 ms (start into the phase:ms): ${slow.join(' ') || 'none'}`);
    if (side !== 'bare') {
      // What one refresh of the gates gauges (BATON_METRICS_PORT) costs with this many runs parked.
      const c = performance.now();
      const n = await baton.countPendingApprovals({ taskQueue });
      log(`${side}: countPendingApprovals (${n.runs} runs) took ${round(performance.now() - c, 0)} ms`);
    }
    const after = memory(pid);
    const r: SideResult = {
      runs: s.runs,
      startSeconds: round(startSeconds),
      startsPerSecond: round(s.runs / startSeconds, 0),
      parkSeconds: round(parkSeconds),
      rssSettledMb: round(settled),
      rssAfterApprovalsMb: round(after.rss),
      rssPeakMb: round(after.hwm),
      cachedWorkflowsSettled,
      approvals: movedOn.length,
      acceptedP50Ms: round(percentile(accepted, 50)),
      acceptedP95Ms: round(percentile(accepted, 95)),
      movedOnP50Ms: round(percentile(movedOn, 50)),
      movedOnP95Ms: round(percentile(movedOn, 95)),
      movedOnMaxMs: round(Math.max(...movedOn)),
    };
    log(`${side}: ${JSON.stringify(r)}`);
    return r;
  } finally {
    await stopWorker(worker);
  }
}

function markdown(s: Settings, results: Partial<Record<Side, SideResult>>, temporal: TemporalHandle): string {
  const rows = (Object.entries(results) as [Side, SideResult][]).map(([side, r]) =>
    [
      side === 'baton'
        ? 'Baton (`createWorker`, approval step)'
        : side === 'cli'
          ? '`baton worker` with its defaults'
          : 'bare SDK (Update + `condition()`)',
      r.runs.toLocaleString('en-US'),
      `${r.parkSeconds} s (${r.startsPerSecond} starts/s)`,
      `${r.rssSettledMb} MB`,
      `${r.rssAfterApprovalsMb} MB`,
      `${r.rssPeakMb} MB`,
      `${r.acceptedP50Ms} / ${r.acceptedP95Ms} ms`,
      `**${r.movedOnP50Ms}** / ${r.movedOnP95Ms} ms`,
    ].join(' | '),
  );
  const baton = results.baton ?? results.cli;
  const cli = results.cli;
  const bare = results.bare;
  const verdict = cli
    ? `Target for \`baton worker\` on its defaults: peak RSS < ${CLI_TARGET.rssMb} MB (${cli.rssPeakMb < CLI_TARGET.rssMb ? 'met' : 'missed'}: ${cli.rssPeakMb} MB), ` +
      (bare
        ? `within ${Math.round((CLI_TARGET.ofBare - 1) * 100)}% of bare SDK code (${cli.rssPeakMb <= bare.rssPeakMb * CLI_TARGET.ofBare ? 'met' : 'missed'}: ${round((cli.rssPeakMb / bare.rssPeakMb - 1) * 100)}%), `
        : '') +
      `approve → run moved on p95 < ${CLI_TARGET.p95Ms} ms (${cli.movedOnP95Ms < CLI_TARGET.p95Ms ? 'met' : 'missed'}: ${cli.movedOnP95Ms} ms).`
    : baton
      ? `Target for Baton: worker RSS ≤ ${TARGET.rssMb} MB (${baton.rssPeakMb <= TARGET.rssMb ? 'met' : 'missed'}: peak ${baton.rssPeakMb} MB), ` +
        `p50 approve → run moved on ≤ ${TARGET.p50Ms} ms (${baton.movedOnP50Ms <= TARGET.p50Ms ? 'met' : 'missed'}: ${baton.movedOnP50Ms} ms).`
      : '';
  return [
    `${s.runs.toLocaleString('en-US')} runs parked on an approval gate per side, one worker each (a child process; RSS from /proc/<pid>/status). ` +
      `Then ${s.sample} randomly chosen runs approved one at a time: "accepted" is the Update's answer, "moved on" is the run's completion seen by the client.`,
    '',
    '| | runs parked | all parked after | worker RSS settled | RSS after approvals | peak RSS (VmHWM) | update accepted p50 / p95 | approve → run moved on p50 / p95 |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r} |`),
    '',
    verdict,
    '',
    `${results.cli ? `\`baton worker\` runs with its own defaults (no flags, no environment settings${process.env.BENCH_CLI_METRICS === '1' ? ' but BATON_METRICS_PORT: metrics and the gates gauges on' : ''}); the bare side gets the same values: ` : 'Worker settings (both sides): '}maxCachedWorkflows ${s.maxCachedWorkflows}, maxConcurrentWorkflowTaskExecutions ${s.maxConcurrentWorkflowTaskExecutions}, ` +
      `workflowThreadPoolSize ${s.workflowThreadPoolSize}, maxConcurrentWorkflowTaskPolls ${s.maxConcurrentWorkflowTaskPolls}, ` +
      `nonStickyToStickyPollRatio ${s.nonStickyToStickyPollRatio}, reuseV8Context (SDK default), prebuilt workflow bundle` +
      ` (Baton's ${s.preloadModules.length ? `with preloadModules ${s.preloadModules.join(', ')}` : 'with its workflow modules preloaded, as shipped'})` +
      '; ' +
      `process: ${s.maxOldSpaceMb ? `node --max-old-space-size=${s.maxOldSpaceMb}` : 'node (default heap limit)'}` +
      `${s.maxSemiSpaceMb ? ` --max-semi-space-size=${s.maxSemiSpaceMb}` : ''}` +
      `${s.mallocArenas ? `, MALLOC_ARENA_MAX=${s.mallocArenas}` : ''}. Runs started ${s.startConcurrency} at a time.`,
    `Server: ${
      temporal.source === 'env'
        ? `existing cluster at ${temporal.address}`
        : `Temporal dev server (in-memory SQLite), dynamic config ${Object.entries(DEV_SERVER_DYNAMIC_CONFIG)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(', ')}`
    }.`,
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  // Inside the project (bench/results is git-ignored), so the built worker script resolves node_modules.
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const tmp = mkdtempSync(join(__dirname, 'results', '.approvals-'));
  const temporal = await acquireTemporal({ log });
  const connection = await Connection.connect(temporal.connectionOptions);
  try {
    const client = new Client({ connection, namespace: temporal.namespace });
    log(
      `temporal: ${temporal.source} at ${temporal.address}; building the worker script and workflow bundles`,
    );
    const script = await buildWorkerScript(tmp);
    const logger = new DefaultLogger('WARN');
    const bundles = {} as Record<Side, string>;
    for (const [side, path] of [
      ['baton', require.resolve('../src/workflows')],
      ['bare', require.resolve('./bare/approval-workflow')],
    ] as const) {
      // Baton's bundle as `npm run build` makes it (its workflow modules preloaded), unless --preload says otherwise.
      const preload =
        side !== 'baton'
          ? {}
          : s.preloadModules.length
            ? { preloadModules: s.preloadModules }
            : batonBundlerOptions();
      const { code } = await bundleWorkflowCode({ workflowsPath: path, logger, ...preload });
      bundles[side] = join(tmp, `${side}-workflows.js`);
      writeFileSync(bundles[side], code);
    }

    const loadBefore = os.loadavg()[0]!;
    const results: Partial<Record<Side, SideResult>> = {};
    for (const side of s.sides)
      results[side] = await runSide(side, s, { temporal, client, connection, script, bundles });

    // The machine may be shared: say how busy it was, since every figure here is CPU-bound.
    const load = { before: round(loadBefore, 2), after: round(os.loadavg()[0]!, 2) };
    const md = `${markdown(s, results, temporal)}\nLoad average (1 min) on this ${os.cpus().length}-core machine: ${load.before} before, ${load.after} after.`;
    const out = {
      date: new Date().toISOString(),
      machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}`,
      server:
        temporal.source === 'env'
          ? { cluster: temporal.address }
          : { source: temporal.source, dynamicConfig: DEV_SERVER_DYNAMIC_CONFIG },
      settings: s,
      target: TARGET,
      loadAverage: load,
      results,
      markdown: md,
    };
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'approvals.json'), JSON.stringify(out, null, 2));
    process.stdout.write(`${md}\n\nwrote bench/results/approvals.json\n`);
  } finally {
    await connection.close();
    await temporal.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
