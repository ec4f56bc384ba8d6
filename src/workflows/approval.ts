import { ApplicationFailure } from '@temporalio/workflow';
import type { ApprovalStep } from '../types';
import type { RunState } from './run-state';
import type { TemplateScope } from './template';

/** Wait for a person's decision on an approval step. */
export async function runApprovalStep(
  _state: RunState,
  key: string,
  _step: ApprovalStep,
  _scope: TemplateScope,
): Promise<string> {
  throw ApplicationFailure.create({
    type: 'NotSupported',
    nonRetryable: true,
    message: `step '${key}': approval steps are not supported by this worker yet`,
  });
}
