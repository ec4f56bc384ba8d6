/** How CLI commands reach Temporal: the configured cluster, or a dev server they start. */
import { Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { BatonClient } from '../client';
import { TemporalUnavailableError } from '../server';

/** The configured Temporal (TEMPORAL_ADDRESS / config profile), defaulting to a local `baton server`. */
export function configuredTemporal(): { address: string; namespace: string; options: Parameters<typeof Connection.connect>[0] } {
  const config = loadClientConnectConfig();
  const address = config.connectionOptions.address ?? '127.0.0.1:7233';
  return {
    address,
    namespace: config.namespace ?? 'default',
    options: { ...(config.connectionOptions as object), address, connectTimeout: '5s' },
  };
}

/** Connect to an existing server, or explain in one line how to get one. */
export async function connectExisting(opts: { taskQueue?: string } = {}): Promise<BatonClient> {
  const t = configuredTemporal();
  let connection: Connection;
  try {
    connection = await Connection.connect(t.options);
  } catch (err) {
    throw new TemporalUnavailableError([
      `no Temporal server answered at ${t.address}${process.env.TEMPORAL_ADDRESS ? ' (TEMPORAL_ADDRESS)' : ''}: ${(err as Error).message}. ` +
        'Start one with `baton server` (then export TEMPORAL_ADDRESS=127.0.0.1:7233), or set TEMPORAL_ADDRESS to your cluster',
    ]);
  }
  const client = await BatonClient.connect({ connection, namespace: t.namespace, ...(opts.taskQueue && { taskQueue: opts.taskQueue }) });
  // The client does not own a connection passed in; close it with the client.
  const close = client.close.bind(client);
  client.close = async () => {
    await close();
    await connection.close();
  };
  return client;
}
