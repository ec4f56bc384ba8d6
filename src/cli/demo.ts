/**
 * `baton demo` (what `npm start` runs): a Temporal server (started if none is configured), a
 * worker in this process, and one durable run, printed step by step with its usage.
 */
import { BatonClient } from '../client';
import { chain } from '../define';
import { acquireTemporal, type TemporalHandle } from '../server';
import type { RunProgress } from '../workflows/api';
import { closeAll, startLocalWorker, trapInterrupt, type LocalWorker } from './lifecycle';
import { preview, stepLine, usageLine } from './output';
import { printTokens } from './tokens';

/** Pick the demo's model from the keys present; without any, the offline provider. */
export function demoProfile(env: NodeJS.ProcessEnv): { profile: string; note: string } {
  if (env.OPENAI_API_KEY)
    return { profile: 'gpt-4o-mini', note: 'OPENAI_API_KEY is set: the demo calls OpenAI (gpt-4o-mini).' };
  if (env.ANTHROPIC_API_KEY)
    return {
      profile: 'claude-haiku',
      note: 'ANTHROPIC_API_KEY is set: the demo calls Anthropic (claude-haiku-4-5).',
    };
  return {
    profile: 'offline',
    note: 'No OPENAI_API_KEY or ANTHROPIC_API_KEY set: the demo runs on the offline provider (deterministic, no network, no cost).',
  };
}

export async function runDemo(
  opts: { topic?: string; log?: (line: string) => void } = {},
): Promise<RunProgress> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  // The offline model streams word by word, paced so that a person sees the stream.
  process.env.BATON_OFFLINE_WORD_DELAY_MS ??= '40';
  const { profile, note } = demoProfile(process.env);
  log(`baton demo: ${note}`);

  // Ctrl-C stops the demo; the finally block lets go of what was opened.
  const trap = trapInterrupt();
  let temporal: TemporalHandle | undefined;
  let worker: LocalWorker | undefined;
  let baton: BatonClient | undefined;
  const until = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, trap.interrupted, ...(worker ? [worker.crashed] : [])]);
  try {
    temporal = await until(acquireTemporal({ log: (l) => log(`temporal: ${l}`) }));
    log(
      temporal.source === 'env'
        ? `temporal: using the cluster at ${temporal.address} (TEMPORAL_ADDRESS)`
        : `temporal: dev server at ${temporal.address} (binary from ${temporal.source})`,
    );
    const taskQueue = `baton-demo-${process.pid}`;
    worker = await until(
      startLocalWorker(temporal.connectionOptions, { namespace: temporal.namespace, taskQueue }),
    );
    // On the worker's connection (its TLS or API key too): the run starts eagerly, its first
    // workflow task going straight to that worker.
    baton = await BatonClient.connect({
      connection: worker.connection,
      namespace: temporal.namespace,
      taskQueue,
    });
    const definition = chain(
      'demo-blog-post',
      [
        {
          name: 'outline',
          profile,
          system: 'You plan short technical posts.',
          prompt: 'Outline a short post about: {{input}}',
        },
        {
          name: 'draft',
          profile,
          system: 'You write clearly.',
          prompt: 'Write the post from this outline:\n{{outline}}',
        },
        { name: 'polish', profile, system: 'You are an editor.', prompt: 'Tighten this draft:\n{{draft}}' },
      ],
      { description: 'A three-step prompt chain: outline, draft, polish' },
    );
    const topic = opts.topic ?? 'why durable execution matters for LLM agents';
    const { runId } = await until(baton.start(definition, topic));
    log(`run ${runId} started: ${definition.steps.map((s) => s.name).join(' -> ')}`);

    // Each step's text as it streams, then its line as it completes (from the run's progress query).
    const streaming = printTokens(baton, runId, (t) => void process.stdout.write(t)).catch(() => {});
    const shown = new Set<string>();
    const resultPromise = baton.result(runId);
    let done = false;
    void resultPromise.finally(() => (done = true)).catch(() => {});
    while (!done) {
      await until(new Promise((r) => setTimeout(r, 100)));
      const p = await baton.progress(runId).catch(() => undefined);
      for (const s of p?.steps ?? []) {
        if (s.status === 'completed' && !shown.has(s.name)) shown.add(s.name);
      }
    }
    const result = await until(resultPromise);
    await until(streaming);
    for (const s of result.steps) log(stepLine(s));
    log(`output: ${preview(result.output, 400)}`);
    log(usageLine(result));
    return result;
  } finally {
    // The client first (its event streams end), then the worker and the connection they shared.
    const [client, server] = [baton, temporal];
    await closeAll([
      ['closing the client', client && (() => client.close())],
      ['stopping the local worker', worker?.stop],
      ['stopping the dev server', server && (() => server.stop())],
    ]);
    trap.dispose();
  }
}
