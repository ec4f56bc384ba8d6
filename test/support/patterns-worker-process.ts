/**
 * A worker in its own process for the pattern crash tests: examples/workflows.ts and one tool,
 * `record`, that appends a line to BATON_TEST_RECORD_FILE, so the test can count real runs of
 * the tool across processes. The test kills this process with SIGKILL and starts another.
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

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
  const connection = await NativeConnection.connect({ address: process.env.BATON_TEST_TEMPORAL_ADDRESS! });
  const worker = await createWorker({
    connection,
    namespace: process.env.BATON_TEST_TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.BATON_TASK_QUEUE!,
    env: process.env,
    workflowsPath: require.resolve('../../examples/workflows'),
    tools: [record],
  });
  process.stdout.write('worker-ready\n');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`patterns-worker-process: ${(err as Error).stack}\n`);
  process.exit(1);
});
