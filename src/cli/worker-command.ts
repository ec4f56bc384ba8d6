import { loadClientConnectConfig } from '@temporalio/envconfig';
import { EndpointPolicy, loadWorkerConfig } from '../activities/endpoints';
import { createWorker, workerSettingsFromEnv } from '../worker';
import { connectNative } from './connect';
import { BadInputError } from './exit-codes';
import { loadToolsModule } from './tools-module';

/** `baton worker`: connect where TEMPORAL_ADDRESS (or the Temporal config profile) says and poll until stopped. */
export async function runWorkerCommand(o: {
  taskQueue?: string;
  maxActivities?: string;
  tools?: string;
  config?: string;
}): Promise<void> {
  const tools = loadToolsModule(o.tools ?? process.env.BATON_TOOLS);
  const max = o.maxActivities === undefined ? undefined : Number(o.maxActivities);
  if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
    throw new BadInputError(`--max-activities ${o.maxActivities} is not a positive whole number`);
  }
  // Settings are checked before connecting, so a typo is reported as such (exit 2).
  const settings = workerSettingsFromEnv();
  const allowedEndpoints = o.config ? loadWorkerConfig(o.config).allowedEndpoints : [];
  const policy = EndpointPolicy.fromEnv(process.env, allowedEndpoints);
  const taskQueue = o.taskQueue ?? settings.taskQueue;
  const config = loadClientConnectConfig();
  const address = config.connectionOptions.address ?? '127.0.0.1:7233';
  const connection = await connectNative({ ...config.connectionOptions, address });
  try {
    const worker = await createWorker({
      connection,
      namespace: config.namespace ?? 'default',
      taskQueue,
      ...(max !== undefined && { maxConcurrentActivities: max }),
      tools,
      allowedEndpoints,
    });
    const toolNote = tools.length ? `, tools: ${tools.map((t) => t.name).join(', ')}` : '';
    process.stderr.write(
      `baton worker: polling task queue '${taskQueue}' at ${address}${toolNote}; Ctrl-C to stop\n` +
        `baton worker: model calls may go to ${policy.summary()}\n`,
    );
    await worker.run();
  } finally {
    await connection.close();
  }
}
