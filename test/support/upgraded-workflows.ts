/**
 * "Version 2" of Baton's workflows, for the upgrade test: Baton's own, with two command changes
 * to the run workflow, each guarded by patched() as a real release would do it.
 *
 * - Before the first step (a point every running run has passed): a timer. Runs started on the
 *   old code have no marker there, so patched() is false when they replay and they skip it; new
 *   runs take it. Unguarded, this is exactly test/support/drifted-workflows.ts, which breaks replay.
 * - After the last step (a point the running runs have not reached yet): the run stamps
 *   `codeVersion: 2` into its memo, so a test can see which code finished a run.
 */
import { patched, sleep, upsertMemo } from '@temporalio/workflow';
import type { RunInput } from '../../src/workflows/api';
import { batonRun as v1 } from '../../src/workflows';

export * from '../../src/workflows';

export const UPGRADE_PRELUDE_PATCH = 'upgrade-test-prelude-timer';
export const UPGRADE_STAMP_PATCH = 'upgrade-test-stamp-code-version';

export async function batonRun(input: RunInput) {
  if (patched(UPGRADE_PRELUDE_PATCH)) await sleep('10 ms');
  const result = await v1(input);
  if (patched(UPGRADE_STAMP_PATCH)) upsertMemo({ codeVersion: 2 });
  return result;
}
