/**
 * Time to first token (issue 11): a client starts a one-step run and reads its events; the worker's
 * model call streams from the fake model server; the first text.delta comes back through Redis
 * Streams. Beside it, the same streamed call made directly with the OpenAI SDK.
 *
 *   npx tsx bench/ttft.ts [iterations]     # also part of `npm run bench -- ttft`
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { BatonClient } from '../src/client';
import { chain } from '../src/define';
import { acquireRedis, closeSharedEventBuses, RedisEventBus } from '../src/streams';
import { median, percentile, startBench, machineLine } from './support';

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 30);
  const loadBefore = os.loadavg()[0]!.toFixed(2);
  const warmup = 3;
  const redis = await acquireRedis();
  // The worker and the client both go through Redis, as across hosts.
  process.env.BATON_REDIS_URL = redis.url;
  const b = await startBench({ slots: 100, env: { BATON_REDIS_URL: redis.url } });
  const bus = new RedisEventBus(redis.url);
  b.baton.eventBus = bus;
  try {
    b.fake.reset();
    b.fake.setDefault({ text: 'first second third fourth fifth' });
    const sdk = new OpenAI({ apiKey: 'sk-bench', baseURL: b.fake.openaiBaseURL, maxRetries: 0 });
    const profile = { name: 'bench', provider: 'openai' as const, model: 'bench-model', timeout: '1 minute' };
    const def = chain('bench-ttft', [{ name: 'say', profile, prompt: 'ttft {{input}}' }]);
    // A client on the worker's own connection (worker and client in one process, as `baton run`
    // and an API server with an embedded worker are): Baton starts its runs eagerly there.
    const local = await BatonClient.connect({
      connection: b.native,
      namespace: b.temporal.namespace,
      taskQueue: b.baton.taskQueue,
      events: bus,
    });
    const direct: number[] = [];
    const baton: number[] = [];
    /** The same, the client on its own connection (no eager start: a client in another process). */
    const batonRemote: number[] = [];
    /** From the model activity's start (its step.started event) to the first token at the client. */
    const fromCall: number[] = [];
    /** From publish (in the worker) to arrival at the client, of the first text.delta. */
    const hop: number[] = [];
    /** From the start call to the model request arriving at the fake server: bare SDK code, and Baton. */
    const bareReach: number[] = [];
    const bareEagerReach: number[] = [];
    const batonReach: number[] = [];
    const batonRemoteReach: number[] = [];
    const arrivals = new Map<string, number>();
    b.fake.on(
      (r) =>
        r.lastUserText.startsWith('ttft ') ||
        r.lastUserText.startsWith('remote-ttft ') ||
        r.lastUserText.startsWith('step 0: bare-ttft ') ||
        r.lastUserText.startsWith('step 0: eager-bare-ttft '),
      (r) => {
        arrivals.set(r.lastUserText, performance.now());
        return { text: 'first second third fourth fifth' };
      },
    );
    for (let i = 0; i < warmup + iterations; i++) {
      // Direct: request to the first content chunk.
      const t0 = performance.now();
      const stream = await sdk.chat.completions.create({
        model: 'bench-model',
        messages: [{ role: 'user', content: `ttft ${i}` }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let first = 0;
      for await (const chunk of stream)
        if (!first && chunk.choices[0]?.delta?.content) first = performance.now() - t0;
      if (i >= warmup) direct.push(first);

      // Through Baton: start the run, read its events, stop at the first text.delta. First with the
      // client in the worker's process (eager start), then with a client on its own connection.
      const through = async (client: BatonClient, runId: string, input: string, fromStart: boolean) => {
        const t1 = performance.now();
        const events = client.events(runId, { pollMs: 1000 });
        const firstToken = (async () => {
          let started = 0;
          for await (const ev of events) {
            if (ev.type === 'step.started') started = ev.ts;
            if (ev.type === 'text.delta') {
              const now = Date.now();
              if (i >= warmup && fromStart) {
                fromCall.push(now - started);
                hop.push(now - ev.ts);
              }
              return performance.now() - t1;
            }
          }
          return NaN;
        })();
        await client.start(def, input, { runId });
        const t = await firstToken;
        await events.return(undefined);
        await client.result(runId);
        return { t, t1 };
      };
      {
        const { t, t1 } = await through(local, `ttft-${process.pid}-${i}`, String(i), true);
        if (i >= warmup) baton.push(t);
        const reached = arrivals.get(`ttft ${i}`);
        if (i >= warmup && reached !== undefined) batonReach.push(reached - t1);
      }
      {
        const remoteDef = {
          ...def,
          steps: def.steps.map((st) => ({ ...st, prompt: 'remote-ttft {{input}}' })),
        };
        const t1 = performance.now();
        const events = b.baton.events(`ttft-remote-${process.pid}-${i}`, { pollMs: 1000 });
        const firstToken = (async () => {
          for await (const ev of events) if (ev.type === 'text.delta') return performance.now() - t1;
          return NaN;
        })();
        await b.baton.start(remoteDef, String(i), { runId: `ttft-remote-${process.pid}-${i}` });
        const t = await firstToken;
        await events.return(undefined);
        await b.baton.result(`ttft-remote-${process.pid}-${i}`);
        if (i >= warmup) batonRemote.push(t);
        const reached = arrivals.get(`remote-ttft ${i}`);
        if (i >= warmup && reached !== undefined) batonRemoteReach.push(reached - t1);
      }

      // The floor of any workflow on this server: bare SDK code starting a one-activity workflow,
      // from the start call to its model request arriving (the call itself not streamed).
      const tb = performance.now();
      await b.baton.temporal.workflow.execute('bareChain', {
        taskQueue: b.bareQueue,
        workflowId: `ttft-bare-${process.pid}-${i}`,
        args: [1, `bare-ttft ${i}`],
      });
      const bareReached = arrivals.get(`step 0: bare-ttft ${i}`);
      if (i >= warmup && bareReached !== undefined) bareReach.push(bareReached - tb);
      // The same bare code started eagerly, from a client on the worker's connection.
      const te = performance.now();
      await local.temporal.workflow.execute('bareChain', {
        taskQueue: b.bareQueue,
        workflowId: `ttft-bare-eager-${process.pid}-${i}`,
        args: [1, `eager-bare-ttft ${i}`],
        requestEagerStart: true,
      });
      const eagerReached = arrivals.get(`step 0: eager-bare-ttft ${i}`);
      if (i >= warmup && eagerReached !== undefined) bareEagerReach.push(eagerReached - te);
    }
    const row = (what: string, xs: number[]) => ({ what, median: median(xs), p95: percentile(xs, 95) });
    const rows = [
      row('direct OpenAI SDK call, streamed (request to first token)', direct),
      row(
        'through Baton, client in the worker process (eager start): start a run, worker calls the model streamed, first text.delta back via Redis Streams',
        baton,
      ),
      row('the same, client on its own connection (no eager start, as from another process)', batonRemote),
      row(
        'bare Temporal SDK code: start a one-activity workflow, to its model request reaching the model server',
        bareReach,
      ),
      row('the same bare code started eagerly (client on the worker connection)', bareEagerReach),
      row('Baton, eager start: start a run, to its model request reaching the model server', batonReach),
      row('Baton, client on its own connection: the same', batonRemoteReach),
      row('through Baton, from the model activity starting to the first text.delta at the client', fromCall),
      row('the Redis hop alone: text.delta published by the worker to read by the client (ms clock)', hop),
    ];
    const added = median(baton) - median(direct);
    const addedRemote = median(batonRemote) - median(direct);
    const addedByStreaming = median(fromCall) - median(direct);
    const command = `npx tsx bench/ttft.ts ${iterations}`;
    const load = { before: loadBefore, after: os.loadavg()[0]!.toFixed(2) };
    const markdown = [
      `Measured ${new Date().toISOString()} with \`${command}\` (${iterations} iterations after ${warmup} warm-ups, interleaved; load average ${load.before} before, ${load.after} after). Redis: ${redis.source === 'env' ? 'BATON_REDIS_URL' : `redis-server started by the bench (${redis.source})`}, on the same host. ${machineLine(b.temporal)}.`,
      '',
      '| what | median | p95 |',
      '|---|---|---|',
      ...rows.map((r) => `| ${r.what} | ${r.median.toFixed(1)} ms | ${r.p95.toFixed(1)} ms |`),
      '',
      `Added by Baton at the median, from the client's start call: **${added.toFixed(1)} ms** with the client in the worker process`,
      `(eager start), ${addedRemote.toFixed(1)} ms with a client on its own connection; from the model activity's start:`,
      `**${addedByStreaming.toFixed(1)} ms** (target: at most 30 ms).`,
      `Bare Temporal SDK code needs ${median(bareReach).toFixed(1)} ms at the median from its start call to its model request`,
      `(${median(bareEagerReach).toFixed(1)} ms started eagerly); Baton ${median(batonRemoteReach).toFixed(1)} ms (${median(batonReach).toFixed(1)} ms eagerly).`,
    ].join('\n');
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'ttft.json'),
      JSON.stringify(
        { command, rows, added, addedRemote, addedByStreaming, iterations, load, markdown },
        null,
        2,
      ),
    );
    console.log(markdown);
    await local.close();
  } finally {
    await bus.close();
    await b.close();
    await closeSharedEventBuses();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
