/**
 * A worker in its own process for the tool side-effect crash test: examples/workflows.ts and one
 * non-idempotent tool, `charge`, that appends its idempotency key to BATON_TEST_RECORD_FILE and
 * then hangs (a call that reached the world and never answered). The test kills this process
 * with SIGKILL mid-call and starts another.
 */
import { testLogLevel } from './temporal-env';
import { appendFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { createWorker } from '../../src/worker';

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
    tools: [charge],
  });
  process.stdout.write('worker-ready\n');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`tools-worker-process: ${(err as Error).stack}\n`);
  process.exit(1);
});
