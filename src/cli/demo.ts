/**
 * `baton demo` (what `npm start` runs): a Temporal server (started if none is configured), a
 * worker in this process, and one durable run, printed step by step with its usage.
 */
import { NativeConnection } from '@temporalio/worker';
import { BatonClient } from '../client';
import { chain } from '../define';
import { acquireTemporal } from '../server';
import { createWorker } from '../worker';
import type { RunProgress } from '../workflows/api';
import { preview, stepLine, usageLine } from './output';

/** Pick the demo's model from the keys present; without any, the offline provider. */
export function demoProfile(env: NodeJS.ProcessEnv): { profile: string; note: string } {
  if (env.OPENAI_API_KEY) return { profile: 'gpt-4o-mini', note: 'OPENAI_API_KEY is set: the demo calls OpenAI (gpt-4o-mini).' };
  if (env.ANTHROPIC_API_KEY)
    return { profile: 'claude-haiku', note: 'ANTHROPIC_API_KEY is set: the demo calls Anthropic (claude-haiku-4-5).' };
  return {
    profile: 'offline',
    note: 'No OPENAI_API_KEY or ANTHROPIC_API_KEY set: the demo runs on the offline provider (deterministic, no network, no cost).',
  };
}

export async function runDemo(opts: { topic?: string; log?: (line: string) => void } = {}): Promise<RunProgress> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const { profile, note } = demoProfile(process.env);
  log(`baton demo: ${note}`);

  const temporal = await acquireTemporal({ log: (l) => log(`temporal: ${l}`) });
  log(
    temporal.source === 'env'
      ? `temporal: using the cluster at ${temporal.address} (TEMPORAL_ADDRESS)`
      : `temporal: dev server at ${temporal.address} (binary from ${temporal.source})`,
  );
  const connection = await NativeConnection.connect(temporal.connectionOptions);
  const taskQueue = `baton-demo-${process.pid}`;
  const worker = await createWorker({ connection, namespace: temporal.namespace, taskQueue });
  const workerDone = worker.run();
  const baton = await BatonClient.connect({ address: temporal.address, namespace: temporal.namespace, taskQueue });
  try {
    const definition = chain(
      'demo-blog-post',
      [
        { name: 'outline', profile, system: 'You plan short technical posts.', prompt: 'Outline a short post about: {{input}}' },
        { name: 'draft', profile, system: 'You write clearly.', prompt: 'Write the post from this outline:\n{{outline}}' },
        { name: 'polish', profile, system: 'You are an editor.', prompt: 'Tighten this draft:\n{{draft}}' },
      ],
      { description: 'A three-step prompt chain: outline, draft, polish' },
    );
    const topic = opts.topic ?? 'why durable execution matters for LLM agents';
    const { runId } = await baton.start(definition, topic);
    log(`run ${runId} started: ${definition.steps.map((s) => s.name).join(' -> ')}`);

    // Print each step as it completes, from the run's progress query.
    const shown = new Set<string>();
    const resultPromise = baton.result(runId);
    let done = false;
    void resultPromise.finally(() => (done = true)).catch(() => {});
    while (!done) {
      await new Promise((r) => setTimeout(r, 100));
      const p = await baton.progress(runId).catch(() => undefined);
      for (const s of p?.steps ?? []) {
        if (s.status === 'completed' && !shown.has(s.name)) {
          shown.add(s.name);
          log(`${stepLine(s)}\n    ${preview(s.output ?? '')}`);
        }
      }
    }
    const result = await resultPromise;
    for (const s of result.steps) if (!shown.has(s.name)) log(`${stepLine(s)}\n    ${preview(s.output ?? '')}`);
    log(`output: ${preview(result.output, 400)}`);
    log(usageLine(result));
    return result;
  } finally {
    await baton.close();
    worker.shutdown();
    await workerDone;
    await connection.close();
    await temporal.stop();
  }
}
