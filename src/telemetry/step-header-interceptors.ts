/**
 * Bundled into every worker's workflow code (not only traced ones): each model or tool call a step
 * schedules carries its step's name in a header, so the worker's log lines of that call name the
 * step (`step: "review[3]"`). Runs inside the workflow sandbox and only adds a header, never a
 * command: histories replay the same with or without it.
 */
import {
  defaultPayloadConverter,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { STEP_HEADER, stepOfSummary, TRACED_ACTIVITIES } from './names';

function withStep<I extends ActivityInput | LocalActivityInput>(input: I, summary: string | undefined): I {
  if (!TRACED_ACTIVITIES.has(input.activityType) || input.headers[STEP_HEADER]) return input;
  const step = stepOfSummary(summary);
  if (!step) return input;
  return { ...input, headers: { ...input.headers, [STEP_HEADER]: defaultPayloadConverter.toPayload(step) } };
}

class StepHeader implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
    return next(withStep(input, input.options.summary));
  }

  scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ) {
    return next(withStep(input, input.options.summary));
  }
}

export const interceptors = (): WorkflowInterceptors => ({ outbound: [new StepHeader()] });
