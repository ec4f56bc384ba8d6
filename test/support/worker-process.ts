/**
 * A Baton worker in its own process, for crash tests: the test kills it with SIGKILL and starts
 * another. Settings come from the environment the test passes.
 */
import { testLogLevel } from './temporal-env';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createWorker } from '../../src/worker';
import { loadWorkerConfig } from '../../src/activities/endpoints';
import { loadWorkerResources } from '../../src/activities/worker-allows';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
  const address = process.env.BATON_TEST_TEMPORAL_ADDRESS!;
  const connection = await NativeConnection.connect({ address });
  // A worker config file, as `baton worker --config` reads it (scripts, MCP servers, endpoints).
  const file = process.env.BATON_TEST_WORKER_CONFIG;
  const resources = file ? loadWorkerResources(file) : undefined;
  const worker = await createWorker({
    ...(file && { allowedEndpoints: loadWorkerConfig(file).allowedEndpoints }),
    ...(resources && { scripts: resources.scripts, mcpServers: resources.mcpServers }),
    connection,
    namespace: process.env.BATON_TEST_TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.BATON_TASK_QUEUE!,
    env: process.env,
    // Another workflows module (the upgrade test's "version 2"); default: Baton's own.
    ...(process.env.BATON_TEST_WORKFLOWS && { workflowsPath: process.env.BATON_TEST_WORKFLOWS }),
  });
  // Tell the parent we poll, so it starts the run only once a worker can take it.
  process.stdout.write('worker-ready\n');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`worker-process: ${(err as Error).stack}\n`);
  process.exit(1);
});
