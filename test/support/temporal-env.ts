import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { TemporalConnectionOptions } from '../../src/server';

/** Environment variables through which jest's global setup hands its server to the test workers. */
export const TEST_TEMPORAL_ENV = {
  address: 'BATON_TEST_TEMPORAL_ADDRESS',
  namespace: 'BATON_TEST_TEMPORAL_NAMESPACE',
  source: 'BATON_TEST_TEMPORAL_SOURCE',
} as const;

/** The one Temporal server of this jest run, as started (or found) by test/support/global-setup.ts. */
export function testTemporal(): {
  address: string;
  namespace: string;
  connectionOptions: TemporalConnectionOptions;
} {
  const address = process.env[TEST_TEMPORAL_ENV.address];
  const namespace = process.env[TEST_TEMPORAL_ENV.namespace];
  if (!address || !namespace) {
    throw new Error(
      `${TEST_TEMPORAL_ENV.address} is not set: run this test through jest's global setup ` +
        `(globalSetup: '<rootDir>/test/support/global-setup.ts' in the jest config), which starts the test server.`,
    );
  }
  // An existing cluster may need TLS or an API key; the workers inherit the same TEMPORAL_* variables.
  const external = process.env[TEST_TEMPORAL_ENV.source] === 'env';
  const connectionOptions = external
    ? { ...(loadClientConnectConfig().connectionOptions as TemporalConnectionOptions), address }
    : { address };
  return { address, namespace, connectionOptions };
}

/**
 * The SDK log level for workers under test: ERROR, so the activity failures tests provoke on
 * purpose do not flood the output; BATON_TEST_LOG_LEVEL=WARN (or DEBUG) shows them when debugging.
 */
export function testLogLevel(): 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' {
  const level = (process.env.BATON_TEST_LOG_LEVEL ?? 'ERROR').toUpperCase();
  return (['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const).find((l) => l === level) ?? 'ERROR';
}

/**
 * End runs a test leaves parked on purpose (for example with their worker gone): every test file
 * shares the server's namespace, and another file's listings would otherwise meet them.
 */
export async function terminateRuns(runIds: string[], reason = 'test cleanup'): Promise<void> {
  const { Client, Connection } = await import('@temporalio/client');
  const { connectionOptions, namespace } = testTemporal();
  const connection = await Connection.connect(connectionOptions);
  try {
    const client = new Client({ connection, namespace });
    for (const id of runIds)
      await client.workflow
        .getHandle(id)
        .terminate(reason)
        .catch(() => undefined); // already ended
  } finally {
    await connection.close();
  }
}
