/** How CLI commands reach Temporal: the configured cluster, or a dev server they start. */
import { Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { BatonClient } from '../client';
import { dataConverterFromEnv } from '../codec';

/** The configured Temporal (TEMPORAL_ADDRESS / config profile), defaulting to a local `baton server`. */
export function configuredTemporal(): {
  address: string;
  namespace: string;
  options: Parameters<typeof Connection.connect>[0];
} {
  const config = loadClientConnectConfig();
  const address = config.connectionOptions.address ?? '127.0.0.1:7233';
  return {
    address,
    namespace: config.namespace ?? 'default',
    options: { ...(config.connectionOptions as object), address, connectTimeout: '5s' },
  };
}

/**
 * Nothing answered at the configured Temporal address (exit code 3). Unlike the server module's
 * TemporalUnavailableError, nothing was to be started here, so the advice is about the address.
 */
export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
}

/** Why a connection failed, in a few words rather than the transport's debug dump. */
function reason(err: unknown): string {
  const e = err as Error & { cause?: Error };
  const text = `${e?.message ?? String(err)} ${e?.cause?.message ?? ''}`;
  if (/ConnectionRefused|ECONNREFUSED|connection refused/i.test(text)) return 'connection refused';
  if (/deadline|timed? ?out/i.test(text)) return 'no answer in time';
  const first = (e?.cause?.message ?? e?.message ?? String(err)).split('\n')[0]!;
  return first.length > 200 ? `${first.slice(0, 199)}…` : first;
}

/** The one line a user reads when nothing answers at `address`, with what to do. */
export function unreachableError(
  address: string,
  err: unknown,
  env: NodeJS.ProcessEnv = process.env,
): TemporalUnreachableError {
  const why = reason(err);
  return new TemporalUnreachableError(
    env.TEMPORAL_ADDRESS
      ? `no Temporal server answered at ${address} (TEMPORAL_ADDRESS): ${why}. Check that it runs, or unset TEMPORAL_ADDRESS to let \`baton run\` start a local dev server`
      : `no Temporal server answered at ${address}: ${why}. Start one with \`baton server\` and export TEMPORAL_ADDRESS=127.0.0.1:7233`,
  );
}

/** A worker's connection to Temporal, or a one-line TemporalUnreachableError. */
export async function connectNative(
  options: NativeConnectionOptions & { address: string },
): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw unreachableError(options.address, err);
  }
}

/** Connect to an existing server, or explain in one line how to get one. */
export async function connectExisting(opts: { taskQueue?: string } = {}): Promise<BatonClient> {
  const t = configuredTemporal();
  // BATON_CODEC_KEYS is checked before anything connects: a bad key is bad input, not a network problem.
  const dataConverter = dataConverterFromEnv(process.env);
  // lazy + ensureConnected rather than Connection.connect, which leaks its channel when it fails.
  const connection = Connection.lazy(t.options);
  try {
    await connection.ensureConnected();
  } catch (err) {
    await connection.close().catch(() => {});
    throw unreachableError(t.address, err);
  }
  // The client's code is loaded by the commands that use it (not by `baton worker`).
  const { BatonClient } = require('../client') as typeof import('../client');
  const client = await BatonClient.connect({
    connection,
    namespace: t.namespace,
    ...(opts.taskQueue && { taskQueue: opts.taskQueue }),
    ...(dataConverter && { dataConverter }),
  });
  // The client does not own a connection passed in; close it with the client.
  const close = client.close.bind(client);
  client.close = async () => {
    await close();
    await connection.close();
  };
  return client;
}
