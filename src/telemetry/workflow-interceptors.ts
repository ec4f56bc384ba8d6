/**
 * The workflow interceptors a traced worker bundles (`workflowInterceptorModules`): the SDK's
 * OpenTelemetry interceptors (a span for the run, one per activity it schedules, exported through
 * the worker's `exporter` sink) and Baton's step spans. Runs inside the workflow sandbox: it only
 * adds spans and headers, never a command, so histories replay the same with or without it.
 */
import * as otel from '@opentelemetry/api';
import { interceptors as openTelemetryInterceptors } from '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';
import {
  defaultPayloadConverter,
  workflowInfo,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { STEP_HEADER, stepOfSummary, TRACED_ACTIVITIES } from './names';

/**
 * Around each model or tool call a step schedules: a span `baton.step <step>` (all attempts of the
 * call are its children), and the step's name in a header for the activity's span.
 */
class StepSpans implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
    return this.around(input, input.options.summary, next);
  }

  scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ) {
    return this.around(input, input.options.summary, next);
  }

  private around<I extends ActivityInput | LocalActivityInput>(
    input: I,
    summary: string | undefined,
    next: (input: I) => Promise<unknown>,
  ): Promise<unknown> {
    if (!TRACED_ACTIVITIES.has(input.activityType)) return next(input);
    const step = stepOfSummary(summary);
    const tracer = otel.trace.getTracer('baton');
    const name = step ? `baton.step ${step}` : `baton.step ${input.activityType}`;
    return tracer.startActiveSpan(name, async (span) => {
      span.setAttribute('baton.run_id', workflowInfo().workflowId);
      span.setAttribute('baton.activity', input.activityType);
      if (step) span.setAttribute('baton.step', step);
      try {
        const headers = step
          ? { ...input.headers, [STEP_HEADER]: defaultPayloadConverter.toPayload(step) }
          : input.headers;
        return await next({ ...input, headers });
      } catch (err) {
        span.setStatus({
          code: otel.SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    });
  }
}

export const interceptors = (): WorkflowInterceptors => {
  // The SDK's first: it registers the sandbox's tracer provider that StepSpans' spans go to.
  const base = openTelemetryInterceptors();
  // Listed first is outermost: the step span is the parent of the SDK's StartActivity span.
  return { ...base, outbound: [new StepSpans(), ...(base.outbound ?? [])] };
};
