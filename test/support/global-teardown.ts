import type { TemporalHandle } from '../../src/server';
import { HANDLE_KEY } from './global-setup';

/** Jest global teardown: stops the server global-setup.ts started (a no-op for an existing cluster). */
export default async function globalTeardown(): Promise<void> {
  const handle = (globalThis as Record<symbol, TemporalHandle | undefined>)[HANDLE_KEY];
  delete (globalThis as Record<symbol, unknown>)[HANDLE_KEY];
  await handle?.stop();
}
