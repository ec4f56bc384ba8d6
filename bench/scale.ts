/**
 * Issue 12's scale benchmarks (`npm run bench -- scale`): wide fan-outs side by side with a plain
 * Promise.all, LangGraph JS with its SQLite checkpointer, bare Temporal SDK code and Baton's batch
 * fan-out; a 10,000-item fan_out against a plain loop at the same concurrency; CPU seconds per
 * 1,000 calls; three-step runs per second on one worker.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import OpenAI from 'openai';
import { chain } from '../src/define';
import type { EnsembleDefinition, FanOut, ModelProfile } from '../src/types';
import type { BenchEnv } from './support';
import { median } from './support';

const profile: ModelProfile = {
  name: 'bench',
  provider: 'openai',
  model: 'bench-model',
  timeout: '1 minute',
  maxTokens: 64,
};

/**
 * The SDK client of the in-process contenders (plain loop, LangGraph): two retries, as a hand-written
 * loop would have, because 1,000 connections opened at once to the fake on 2 shared cores can be reset.
 */
const inProcessSdk = (b: BenchEnv) =>
  new OpenAI({ apiKey: 'sk-bench', baseURL: b.fake.openaiBaseURL, maxRetries: 2 });

const LANGGRAPH_DIR = join(__dirname, 'langgraph');

/** Install bench/langgraph/ on first use (its own package.json: the project install stays lean). */
export function ensureLangGraph(): NodeRequire {
  if (!existsSync(join(LANGGRAPH_DIR, 'node_modules', '@langchain', 'langgraph-checkpoint-sqlite'))) {
    console.log('installing LangGraph JS into bench/langgraph (first use)…');
    // better-sqlite3 may compile from source: node-gyp takes this Node's own headers, no download.
    const nodeDir = join(process.execPath, '..', '..');
    const env = existsSync(join(nodeDir, 'include', 'node', 'node.h'))
      ? { ...process.env, npm_config_nodedir: nodeDir }
      : process.env;
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], {
      cwd: LANGGRAPH_DIR,
      stdio: 'inherit',
      env,
    });
  }
  return createRequire(join(LANGGRAPH_DIR, 'package.json'));
}

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** The dev server's process: the `temporal` process listening on the bench's port. */
function serverPid(address: string): number | undefined {
  const port = address.split(':').pop();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (/temporal$/.test(cmd[0] ?? '') && cmd.includes('start-dev') && cmd.includes(port!))
        return Number(d);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** A fan-out ensemble: `list` answers the items at once, `each` runs one call per item. */
function fanOutDef(
  width: number,
  batchSize: number,
  maxConcurrency?: number,
  shard: FanOut['shard'] = false,
): EnsembleDefinition {
  return {
    name: 'bench-wide',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: `LIST ${width} {{input}}` },
      {
        kind: 'agent',
        name: 'each',
        dependsOn: ['list'],
        profile,
        prompt: 'branch {{item}}',
        fanOut: {
          from: 'list',
          batch: { size: batchSize },
          ...(maxConcurrency !== undefined && { maxConcurrency }),
          // The rows before shards existed measure one run's history: unsharded unless asked.
          shard,
        },
      },
    ],
  };
}

function scriptList(b: BenchEnv, width: number) {
  b.fake.on(`LIST ${width} `, {
    text: JSON.stringify(Array.from({ length: width }, (_, i) => String(i))),
  });
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** A LangGraph graph that fans `items` out to one node per item (Send), checkpointed to SQLite. */
function langGraphFanOut(req: NodeRequire, sdk: OpenAI, dbFile: string) {
  const lg = req('@langchain/langgraph');
  const { SqliteSaver } = req('@langchain/langgraph-checkpoint-sqlite');
  const State = lg.Annotation.Root({
    items: lg.Annotation(),
    item: lg.Annotation(),
    results: lg.Annotation({ reducer: (a: string[], b: string[]) => a.concat(b), default: () => [] }),
  });
  const graph = new lg.StateGraph(State)
    .addNode('agent', async (s: { item: string }) => {
      const r = await sdk.chat.completions.create({
        model: 'bench-model',
        messages: [{ role: 'user', content: `branch ${s.item}` }],
      });
      return { results: [r.choices[0]?.message.content ?? ''] };
    })
    .addConditionalEdges(lg.START, (s: { items: string[] }) =>
      s.items.map((item) => new lg.Send('agent', { item })),
    )
    .addEdge('agent', lg.END)
    .compile({ checkpointer: SqliteSaver.fromConnString(dbFile) });
  let n = 0;
  return async (width: number) => {
    const out = await graph.invoke(
      { items: Array.from({ length: width }, (_, i) => String(i)) },
      { configurable: { thread_id: `t${n++}` }, recursionLimit: 10_000, maxConcurrency: width },
    );
    if (out.results.length !== width) throw new Error(`LangGraph returned ${out.results.length} of ${width}`);
  };
}

export interface ScaleRow {
  what: string;
  median: number;
}

/** Wide fan-outs at `latencyMs`: every contender in the same run, round-robin, medians. */
export async function wideFanOutBench(
  b: BenchEnv,
  opts: { widths: number[]; latencyMs: number; iterations: number; batchSize: number },
) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok', delayMs: opts.latencyMs });
  const sdk = inProcessSdk(b);
  const req = ensureLangGraph();
  const dir = mkdtempSync(join(os.tmpdir(), 'baton-bench-lg-'));
  const lgRun = langGraphFanOut(req, sdk, join(dir, 'checkpoints.sqlite'));
  const out: Record<number, ScaleRow[]> = {};
  let n = 0;
  for (const width of opts.widths) {
    scriptList(b, width);
    const contenders: Record<string, () => Promise<unknown>> = {
      plain: () =>
        Promise.all(
          Array.from({ length: width }, (_, i) =>
            sdk.chat.completions.create({
              model: 'bench-model',
              messages: [{ role: 'user', content: `branch ${i}` }],
            }),
          ),
        ),
      langgraph: () => lgRun(width),
      bare: () =>
        b.baton.temporal.workflow.execute('bareFanOut', {
          taskQueue: b.bareQueue,
          workflowId: `bare-wide-${process.pid}-${n++}`,
          args: [width, 'x'],
        }),
      baton: () =>
        b.baton.run(fanOutDef(width, opts.batchSize), 'x', { runId: `baton-wide-${process.pid}-${n++}` }),
    };
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
    for (let i = 0; i < 1 + opts.iterations; i++) {
      for (const [name, fn] of Object.entries(contenders)) {
        const t = await timeIt(fn);
        if (i >= 1) times[name]!.push(t);
      }
    }
    out[width] = [
      { what: `plain in-process Promise.all, ${width} SDK calls`, median: median(times.plain!) },
      {
        what: `LangGraph JS 1.7.3, ${width} Send branches, SQLite checkpointer`,
        median: median(times.langgraph!),
      },
      { what: `bare Temporal SDK workflow, ${width} parallel activities`, median: median(times.bare!) },
      {
        what: `Baton fan_out, ${width} instances, \`batch: { size: ${opts.batchSize} }\` (plus one list call at 0 ms)`,
        median: median(times.baton!),
      },
    ];
  }
  return { widths: out, iterations: opts.iterations, latencyMs: opts.latencyMs, batchSize: opts.batchSize };
}

/** A 10,000-item fan_out with max_concurrency beside a plain loop at the same concurrency; history size. */
export async function hugeFanOutBench(
  b: BenchEnv,
  opts: { items: number; concurrency: number; latencyMs: number; batchSize: number },
) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok', delayMs: opts.latencyMs });
  scriptList(b, opts.items);
  const sdk = inProcessSdk(b);
  const plain = await timeIt(async () => {
    let next = 0;
    const lane = async () => {
      while (next < opts.items) {
        const i = next++;
        await sdk.chat.completions.create({
          model: 'bench-model',
          messages: [{ role: 'user', content: `branch ${i}` }],
        });
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, lane));
  });
  const runId = `baton-huge-${process.pid}-${Date.now()}`;
  const baton = await timeIt(() =>
    b.baton.run(fanOutDef(opts.items, opts.batchSize, opts.concurrency), 'x', { runId }),
  );
  const history = await b.baton.temporal.workflow.getHandle(runId).fetchHistory();
  const events = history.events?.length ?? 0;
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  return { ...opts, plainMs: plain, batonMs: baton, events, historyBytes: bytes };
}

/**
 * A 10,000-item batch fan_out in shards (docs/scale.md): the history of the run itself (what
 * sharding bounds) and of all its shard workflows together.
 */
export async function shardedFanOutBench(
  b: BenchEnv,
  opts: { items: number; concurrency: number; latencyMs: number; batchSize: number; shardSize: number },
) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok', delayMs: opts.latencyMs });
  scriptList(b, opts.items);
  const runId = `baton-sharded-${process.pid}-${Date.now()}`;
  const def = fanOutDef(opts.items, opts.batchSize, opts.concurrency, { size: opts.shardSize });
  const ms = await timeIt(() => b.baton.run(def, 'x', { runId }));
  const sizeOf = async (workflowId: string) => {
    const history = await b.baton.temporal.workflow.getHandle(workflowId).fetchHistory();
    return {
      events: history.events?.length ?? 0,
      bytes: temporal.api.history.v1.History.encode(history).finish().length,
    };
  };
  const run = await sizeOf(runId);
  // A fan-out not wider than its shard size runs in the run: no shards.
  const count = opts.items > opts.shardSize ? Math.ceil(opts.items / opts.shardSize) : 0;
  const shards = { count, events: 0, bytes: 0 };
  for (let k = 0; k < shards.count; k++) {
    const s = await sizeOf(`${runId}/each/shard-${k}`);
    shards.events += s.events;
    shards.bytes += s.bytes;
  }
  return { ...opts, batonMs: ms, events: run.events, historyBytes: run.bytes, shards };
}

/** CPU seconds of the bench process (worker, client and fake model alike) and the server per 1,000 calls. */
export async function cpuBench(b: BenchEnv, opts: { width: number; batchSize: number; rounds: number }) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok', delayMs: 0 });
  scriptList(b, opts.width);
  const server = serverPid(b.temporal.address);
  const measure = async (fn: () => Promise<unknown>) => {
    const w0 = cpuSeconds(process.pid);
    const s0 = server ? cpuSeconds(server) : NaN;
    for (let i = 0; i < opts.rounds; i++) await fn();
    const calls = (opts.width * opts.rounds) / 1000;
    return {
      worker: (cpuSeconds(process.pid) - w0) / calls,
      server: server ? (cpuSeconds(server) - s0) / calls : NaN,
    };
  };
  let n = 0;
  const bare = await measure(() =>
    b.baton.temporal.workflow.execute('bareFanOut', {
      taskQueue: b.bareQueue,
      workflowId: `bare-cpu-${process.pid}-${n++}`,
      args: [opts.width, 'x'],
    }),
  );
  const baton = await measure(() =>
    b.baton.run(fanOutDef(opts.width, opts.batchSize), 'x', { runId: `baton-cpu-${process.pid}-${n++}` }),
  );
  return { ...opts, bare, baton, serverFound: server !== undefined };
}

/** Three-step runs per second one worker sustains with a 0 ms model: `runs` started at once. */
export async function throughputBench(b: BenchEnv, opts: { runs: number; rounds: number }) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok', delayMs: 0 });
  const def = chain(
    'bench-three',
    Array.from({ length: 3 }, (_, i) => ({
      name: `s${i}`,
      profile,
      prompt: i === 0 ? 'step 0: {{input}}' : `step ${i}: {{steps.s${i - 1}}}`,
    })),
  );
  let n = 0;
  const rate = async (start: () => Promise<unknown>) => {
    const ms = await timeIt(() => Promise.all(Array.from({ length: opts.runs }, start)));
    return (opts.runs / ms) * 1000;
  };
  const bare: number[] = [];
  const baton: number[] = [];
  for (let r = 0; r < opts.rounds + 1; r++) {
    const x = await rate(() =>
      b.baton.temporal.workflow.execute('bareChain', {
        taskQueue: b.bareQueue,
        workflowId: `bare-tp-${process.pid}-${n++}`,
        args: [3, 'x'],
      }),
    );
    const y = await rate(() => b.baton.run(def, 'x', { runId: `baton-tp-${process.pid}-${n++}` }));
    if (r > 0) {
      bare.push(x);
      baton.push(y);
    }
  }
  return { ...opts, bare: median(bare), baton: median(baton) };
}
