/**
 * `npm run record-histories`: run one workflow of every pattern on the offline provider against
 * a real server and save each history here. test/integration/replay.test.ts replays them all, so
 * a workflow change that would break runs already in flight fails CI. Re-record only on purpose
 * (a new pattern, or a change guarded by patched()); keep the old files that still matter.
 */
import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatonClient } from '../../src/client';
import { loadEnsembleFile } from '../../src/config';
import { chain, fanOutJoin } from '../../src/define';
import { fetchRunHistory, historyJSON } from '../../src/replay';
import { acquireTemporal } from '../../src/server';
import type { EnsembleDefinition } from '../../src/types';
import { createWorker } from '../../src/worker';

const examples = join(__dirname, '..', '..', 'examples', 'ensembles');

/** Ensembles whose runs are recorded, each with the input it runs on. */
const recordings: { name: string; definition: () => EnsembleDefinition; input: string }[] = [
  {
    name: 'chain',
    definition: () =>
      chain('chain', [
        { name: 'outline', profile: 'offline' },
        { name: 'draft', profile: 'offline', prompt: 'Draft from {{outline}}' },
      ]),
    input: 'durable agents',
  },
  {
    name: 'fan-out-join',
    definition: () => fanOutJoin('fan-out-join', [{ name: 'a', profile: 'offline' }, { name: 'b', profile: 'offline' }], { name: 'join', profile: 'offline' }),
    input: 'review this',
  },
  { name: 'ensemble-code-review', definition: () => loadEnsembleFile(join(examples, 'code-review.yaml')), input: 'const x = 1;' },
  { name: 'ensemble-fan-out', definition: () => loadEnsembleFile(join(examples, 'research-report.yaml')), input: 'Why durable execution?' },
  { name: 'ensemble-router', definition: () => loadEnsembleFile(join(examples, 'support-triage.yaml')), input: 'I was charged twice' },
  { name: 'ensemble-loop', definition: () => loadEnsembleFile(join(examples, 'refine-essay.yaml')), input: 'a haiku about retries' },
];

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const temporal = await acquireTemporal();
  const native = await NativeConnection.connect(temporal.connectionOptions);
  const taskQueue = `record-${process.pid}`;
  const worker = await createWorker({ connection: native, namespace: temporal.namespace, taskQueue });
  const running = worker.run();
  const connection = await Connection.connect(temporal.connectionOptions);
  const baton = await BatonClient.connect({ connection, namespace: temporal.namespace, taskQueue });
  try {
    for (const r of recordings) {
      const { runId } = await baton.start(r.definition(), r.input, { runId: `history-${r.name}` });
      await baton.result(runId);
      const file = join(__dirname, `${r.name}.json`);
      writeFileSync(file, historyJSON(await fetchRunHistory(baton.temporal, runId)));
      console.log(`recorded ${file}`);
    }
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await native.close();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
