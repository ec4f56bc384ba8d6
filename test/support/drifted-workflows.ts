/**
 * Baton's run workflow with one change that breaks determinism: a timer before the first step.
 * Replaying a real run's history against it must fail, in plain words.
 */
import { sleep } from '@temporalio/workflow';
import type { RunInput } from '../../src/workflows/api';
import { batonRun as original } from '../../src/workflows';

export async function batonRun(input: RunInput) {
  await sleep('1 second');
  return original(input);
}
