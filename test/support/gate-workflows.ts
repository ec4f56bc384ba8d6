/**
 * Baton's workflows plus one that opens many approval gates at once (for the many-gates test):
 * every gate waits in the same run, and the run returns how many were approved.
 */
import { requestApproval } from '../../src/workflows/approval';
import { createRunContext } from '../../src/workflows/patterns';

export * from '../../src/workflows';

/** Open `n` draft gates at once and wait for every decision. */
export async function manyGates(n: number): Promise<number> {
  const { state } = createRunContext('many-gates');
  const decisions = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      requestApproval(state, {
        gate: `g${i}`,
        step: `s${i}`,
        kind: 'draft',
        summary: `draft number ${i}`,
        draft: `draft number ${i}: ${'text '.repeat(20)}`,
      }),
    ),
  );
  return decisions.filter((d) => d.outcome === 'approved').length;
}
