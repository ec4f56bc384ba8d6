/**
 * Baton's run workflow with one change that breaks determinism: a timer before the first step.
 * Replaying a real run's history against it must fail, in plain words.
 */
import { patched, sleep } from '@temporalio/workflow';
import type { RunInput } from '../../src/workflows/api';
import { batonRun as original } from '../../src/workflows';
import { LEAN_STEPS_PATCH } from '../../src/workflows/ensemble';

export async function batonRun(input: RunInput) {
  // A run records this marker before anything else (src/workflows/index.ts): the drift is the timer after it.
  patched(LEAN_STEPS_PATCH);
  await sleep('1 second');
  return original(input);
}
