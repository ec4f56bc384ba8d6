import { acquireTemporal, type TemporalHandle } from '../../src/server';
import { TEST_TEMPORAL_ENV } from './temporal-env';

/** Where global-teardown.ts finds the handle: globalSetup and globalTeardown share jest's parent process. */
export const HANDLE_KEY = Symbol.for('baton.test.temporal');

/** Jest global setup: one Temporal server for the whole run (TEMPORAL_ADDRESS's cluster, else a dev server). */
export default async function globalSetup(): Promise<void> {
  const handle = await acquireTemporal();
  (globalThis as Record<symbol, TemporalHandle>)[HANDLE_KEY] = handle;
  // Workers are forked after global setup, so they inherit these.
  process.env[TEST_TEMPORAL_ENV.address] = handle.address;
  process.env[TEST_TEMPORAL_ENV.namespace] = handle.namespace;
  process.env[TEST_TEMPORAL_ENV.source] = handle.source;
}
