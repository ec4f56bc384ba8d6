/** The Baton side of "a run parked on an approval", for bench/approvals.ts and bench/approval-replay.ts. */
import type { EnsembleDefinition } from '../src/types';

/** One approval gate that shows the input and waits up to a day. */
export const approvalDefinition: EnsembleDefinition = {
  name: 'bench-approval',
  steps: [
    {
      kind: 'approval',
      name: 'approve',
      dependsOn: [],
      present: '{{input}}',
      deadline: '24 hours',
      onTimeout: 'reject',
    },
  ],
};
