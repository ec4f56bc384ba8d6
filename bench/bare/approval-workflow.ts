/**
 * The bare Temporal SDK version of "a run parked on an approval", for bench/approvals.ts: one
 * Update handler and a `condition()` with a deadline, nothing else. What a team writes by hand.
 */
import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

export const approveUpdate = defineUpdate<string, [string]>('approve');

export async function bareApproval(draft: string): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(approveUpdate, (by) => {
    approvedBy = by;
    return 'approved';
  });
  // The same deadline as the Baton gate: a durable timer beside the wait.
  const decided = await condition(() => approvedBy !== undefined, '24 hours');
  return decided ? `${draft} (approved by ${approvedBy})` : `${draft} (rejected: no decision)`;
}
