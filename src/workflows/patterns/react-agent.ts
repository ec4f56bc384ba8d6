import { ApplicationFailure } from '@temporalio/workflow';
import type { AgentStep } from '../../types';
import type { RunOptions } from '../api';
import type { RunState } from '../run-state';
import type { TemplateScope } from '../template';

/** A tool-using (ReAct) agent: the model proposes tool calls, each runs as its own activity. */
export async function runToolAgent(
  _state: RunState,
  key: string,
  _step: AgentStep,
  _scope: TemplateScope,
  _options?: RunOptions,
): Promise<string> {
  throw ApplicationFailure.create({
    type: 'NotSupported',
    nonRetryable: true,
    message: `step '${key}': tool-using agents are not supported by this worker yet`,
  });
}
