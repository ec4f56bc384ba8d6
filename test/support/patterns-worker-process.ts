/**
 * A worker in its own process for the crash tests: examples/workflows.ts and two tools that
 * append to BATON_TEST_RECORD_FILE, so a test can count real calls across processes. `record`
 * writes a note down (the pattern crash tests); `charge` is not idempotent and hangs after
 * writing its key (a call that reached the world and never answered: the tool side-effect test).
 * The tests kill this process with SIGKILL mid-run and start another.
 */
import { testLogLevel } from './temporal-env';
import { appendFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { createWorker } from '../../src/worker';

const record = createTool({
  name: 'record',
  description: 'Write a note down (a side effect that must happen once).',
  input: z.object({ note: z.string() }),
  run: ({ note }, ctx) => {
    appendFileSync(process.env.BATON_TEST_RECORD_FILE!, `${note} ${ctx.idempotencyKey}\n`);
    return `recorded ${note}`;
  },
});

const charge = createTool({
  name: 'charge',
  description: 'Charge a card (not idempotent).',
  input: z.object({ cents: z.number() }),
  idempotent: false,
  run: async (_input, ctx) => {
    appendFileSync(process.env.BATON_TEST_RECORD_FILE!, `${ctx.idempotencyKey} ${ctx.attempt}\n`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    return 'charged';
  },
});

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
  const connection = await NativeConnection.connect({ address: process.env.BATON_TEST_TEMPORAL_ADDRESS! });
  const worker = await createWorker({
    connection,
    namespace: process.env.BATON_TEST_TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.BATON_TASK_QUEUE!,
    env: process.env,
    workflowsPath: require.resolve('../../examples/workflows'),
    tools: [record, charge],
  });
  process.stdout.write('worker-ready\n');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`patterns-worker-process: ${(err as Error).stack}\n`);
  process.exit(1);
});
