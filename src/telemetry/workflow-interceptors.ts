/**
 * The workflow interceptors a traced worker bundles (`workflowInterceptorModules`): the SDK's
 * OpenTelemetry interceptors (a span for the run, one per activity it schedules, exported through
 * the worker's `exporter` sink) and Baton's step spans. Runs inside the workflow sandbox: it only
 * adds spans and headers, never a command, so histories replay the same with or without it.
 */
import * as otel from '@opentelemetry/api';
import { headersWithContext } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import {
  OpenTelemetryOutboundInterceptor,
  SPAN_DELIMITER,
  SpanName,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { interceptors as openTelemetryInterceptors } from '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';
import {
  defaultPayloadConverter,
  workflowInfo,
  type ActivityInput,
  type ContinueAsNewInput,
  type StartChildWorkflowExecutionInput,
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
    return tracer.startActiveSpan(name, (span) => {
      span.setAttribute('baton.run_id', workflowInfo().workflowId);
      span.setAttribute('baton.activity', input.activityType);
      if (step) span.setAttribute('baton.step', step);
      const headers = step
        ? { ...input.headers, [STEP_HEADER]: defaultPayloadConverter.toPayload(step) }
        : input.headers;
      return endWhenSettled(span, next({ ...input, headers }));
    });
  }
}

/**
 * `p` itself, with `span` ended when it settles. The caller awaits the very promise the call
 * returned: tracing adds no microtask between a call settling and the code after it, so two
 * branches of a workflow issue their commands in the same order with tracing on or off.
 */
function endWhenSettled<T>(span: otel.Span, p: Promise<T>): Promise<T> {
  p.then(
    () => span.end(),
    (err: unknown) => {
      span.setStatus({
        code: otel.SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      span.end();
    },
  );
  return p;
}

/**
 * The SDK's outbound interceptor, without its extra microtasks. For a run whose history does not carry the
 * SDK flag `OpenTelemetryInterceporsAvoidsExtraYields` (a run recorded with tracing off), the SDK
 * yields once before scheduling an activity, a local activity, a child or a continue-as-new; two
 * branches of one workflow task can then issue their commands in another order than recorded, and
 * switching tracing on under such a run would fail its replay. Here every run takes the path the SDK
 * takes when the flag is set, and the call's own promise is handed back (the span ends beside it),
 * so tracing adds no microtask on the way in or out, whatever the history says.
 */
class OutboundWithoutExtraYields extends OpenTelemetryOutboundInterceptor {
  private startSpan<I extends { headers: ActivityInput['headers'] }, R>(
    spanName: string,
    input: I,
    next: (input: I) => Promise<R>,
  ): Promise<R> {
    return this.tracer.startActiveSpan(spanName, (span) =>
      endWhenSettled(span, next({ ...input, headers: headersWithContext(input.headers) })),
    );
  }

  override scheduleActivity(
    input: ActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
  ) {
    return this.startSpan(`${SpanName.ACTIVITY_START}${SPAN_DELIMITER}${input.activityType}`, input, next);
  }

  override scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ) {
    return this.startSpan(`${SpanName.ACTIVITY_START}${SPAN_DELIMITER}${input.activityType}`, input, next);
  }

  override startChildWorkflowExecution(
    input: StartChildWorkflowExecutionInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>,
  ) {
    return this.startSpan(
      `${SpanName.CHILD_WORKFLOW_START}${SPAN_DELIMITER}${input.workflowType}`,
      input,
      next,
    );
  }

  override continueAsNew(
    input: ContinueAsNewInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>,
  ) {
    return this.startSpan(
      `${SpanName.CONTINUE_AS_NEW}${SPAN_DELIMITER}${input.options.workflowType}`,
      input,
      next,
    ) as Promise<never>;
  }
}

export const interceptors = (): WorkflowInterceptors => {
  // The SDK's first: it registers the sandbox's tracer provider that StepSpans' spans go to.
  const base = openTelemetryInterceptors();
  // Listed first is outermost: the step span is the parent of the SDK's StartActivity span.
  const outbound = (base.outbound ?? []).map((o) =>
    o instanceof OpenTelemetryOutboundInterceptor ? new OutboundWithoutExtraYields() : o,
  );
  return { ...base, outbound: [new StepSpans(), ...outbound] };
};
