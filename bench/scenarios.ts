/** The benchmark scenarios of issues 2 and 3: a 20-step chain and a 200-agent fan-out. */
import OpenAI from 'openai';
import type { EnsembleDefinition, ModelProfile } from '../src/types';
import { chain } from '../src/define';
import { median, type BenchEnv } from './support';

const profile: ModelProfile = {
  name: 'bench',
  provider: 'openai',
  model: 'bench-model',
  timeout: '1 minute',
};

export interface Row {
  what: string;
  median: number;
  p95?: number;
  note?: string;
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Run each contender `iterations` times, round-robin so drift hits them alike; return medians. */
async function compare(
  contenders: Record<string, () => Promise<unknown>>,
  warmup: number,
  iterations: number,
) {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let i = 0; i < warmup + iterations; i++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const t = await timeIt(fn);
      if (i >= warmup) times[name]!.push(t);
    }
  }
  return times;
}

/** Issue 2: orchestration overhead per step of a 20-step chain against an instantly answering model. */
export async function chainBench(b: BenchEnv, opts: { steps: number; iterations: number }) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok' });
  const sdk = new OpenAI({ apiKey: 'sk-bench', baseURL: b.fake.openaiBaseURL, maxRetries: 0 });
  const def = chain(
    'bench-chain',
    Array.from({ length: opts.steps }, (_, i) => ({
      name: `s${i}`,
      profile,
      prompt: i === 0 ? 'step 0: {{input}}' : `step ${i}: {{steps.s${i - 1}}}`,
    })),
  );
  let n = 0;
  const times = await compare(
    {
      plain: async () => {
        let text = 'x';
        for (let i = 0; i < opts.steps; i++) {
          const r = await sdk.chat.completions.create({
            model: 'bench-model',
            messages: [{ role: 'user', content: `step ${i}: ${text}` }],
          });
          text = r.choices[0]?.message.content ?? '';
        }
      },
      bare: () =>
        b.baton.temporal.workflow.execute('bareChain', {
          taskQueue: b.bareQueue,
          workflowId: `bare-chain-${process.pid}-${n++}`,
          args: [opts.steps, 'x'],
        }),
      baton: () => b.baton.run(def, 'x', { runId: `baton-chain-${process.pid}-${n++}` }),
      bareLocal: () =>
        b.baton.temporal.workflow.execute('bareChainLocal', {
          taskQueue: b.bareQueue,
          workflowId: `bare-chainl-${process.pid}-${n++}`,
          args: [opts.steps, 'x'],
        }),
      batonLocal: () =>
        b.baton.run(def, 'x', {
          runId: `baton-chainl-${process.pid}-${n++}`,
          options: { localActivities: true },
        }),
    },
    3,
    opts.iterations,
  );
  const plain = median(times.plain!);
  const rows: Row[] = [
    { what: `plain in-process loop, ${opts.steps} SDK calls`, median: plain },
    { what: `bare Temporal SDK workflow, ${opts.steps} activities`, median: median(times.bare!) },
    { what: `Baton chain, ${opts.steps} steps`, median: median(times.baton!) },
    { what: `bare Temporal SDK workflow, ${opts.steps} local activities`, median: median(times.bareLocal!) },
    {
      what: `Baton chain, ${opts.steps} steps, \`localActivities: true\``,
      median: median(times.batonLocal!),
    },
  ];
  const perStep = (x: number) => (x - plain) / opts.steps;
  return {
    rows,
    overheadPerStep: {
      baton: perStep(median(times.baton!)),
      bare: perStep(median(times.bare!)),
      batonLocal: perStep(median(times.batonLocal!)),
      bareLocal: perStep(median(times.bareLocal!)),
    },
    iterations: opts.iterations,
  };
}

/** Issue 3: N agents fanned out at once against a model that takes `latencyMs` to answer. */
export async function fanOutBench(
  b: BenchEnv,
  opts: { width: number; latencyMs: number; iterations: number },
) {
  b.fake.reset();
  b.fake.setDefault({ text: 'ok', delayMs: opts.latencyMs });
  const sdk = new OpenAI({ apiKey: 'sk-bench', baseURL: b.fake.openaiBaseURL, maxRetries: 0 });
  const def: EnsembleDefinition = {
    name: 'bench-fanout',
    steps: Array.from({ length: opts.width }, (_, i) => ({
      kind: 'agent' as const,
      name: `a${i}`,
      dependsOn: [],
      profile,
      prompt: `branch ${i}: {{input}}`,
    })),
  };
  let n = 0;
  const one = await timeIt(() =>
    sdk.chat.completions.create({ model: 'bench-model', messages: [{ role: 'user', content: 'one' }] }),
  );
  const times = await compare(
    {
      plain: () =>
        Promise.all(
          Array.from({ length: opts.width }, (_, i) =>
            sdk.chat.completions.create({
              model: 'bench-model',
              messages: [{ role: 'user', content: `branch ${i}` }],
            }),
          ),
        ),
      bare: () =>
        b.baton.temporal.workflow.execute('bareFanOut', {
          taskQueue: b.bareQueue,
          workflowId: `bare-fan-${process.pid}-${n++}`,
          args: [opts.width, 'x'],
        }),
      baton: () => b.baton.run(def, 'x', { runId: `baton-fan-${process.pid}-${n++}` }),
      bareLocal: () =>
        b.baton.temporal.workflow.execute('bareFanOutLocal', {
          taskQueue: b.bareQueue,
          workflowId: `bare-fanl-${process.pid}-${n++}`,
          args: [opts.width, 'x'],
        }),
      batonLocal: () =>
        b.baton.run(def, 'x', {
          runId: `baton-fanl-${process.pid}-${n++}`,
          options: { localActivities: true },
        }),
    },
    1,
    opts.iterations,
  );
  const rows: Row[] = [
    {
      what: `sequential, ${opts.width} calls (one call measured × ${opts.width}; not run)`,
      median: one * opts.width,
    },
    { what: `plain in-process Promise.all, ${opts.width} SDK calls`, median: median(times.plain!) },
    { what: `bare Temporal SDK workflow, ${opts.width} parallel activities`, median: median(times.bare!) },
    { what: `Baton ensemble, ${opts.width} independent agent steps`, median: median(times.baton!) },
    {
      what: `bare Temporal SDK workflow, ${opts.width} parallel local activities`,
      median: median(times.bareLocal!),
    },
    {
      what: `Baton ensemble, ${opts.width} steps, \`localActivities: true\``,
      median: median(times.batonLocal!),
    },
  ];
  return { rows, iterations: opts.iterations };
}
