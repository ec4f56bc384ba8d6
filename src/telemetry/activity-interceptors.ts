/**
 * The worker side of tracing: the SDK's activity span (`RunActivity:<type>`, a child of the
 * workflow's `StartActivity` span) for every activity attempt, and on model and tool calls the
 * attributes a person reading a trace looks for: GenAI semantic conventions (provider, model,
 * tokens) and Baton's run, step and cost.
 */
import type * as otel from '@opentelemetry/api';
import type { Context as ActivityContext } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  Next,
} from '@temporalio/worker';
import type { ToolCallRequest, ToolCallResult } from '../activities/tools';
import type { ModelRequest, ModelResponse } from '../types';
import { STEP_HEADER } from './names';

/** Attribute names on a model call's span (GenAI semantic conventions, then Baton's). */
export const ATTR = {
  provider: 'gen_ai.provider.name',
  system: 'gen_ai.system',
  operation: 'gen_ai.operation.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  finishReasons: 'gen_ai.response.finish_reasons',
  toolName: 'gen_ai.tool.name',
  costUsd: 'baton.cost_usd',
  runId: 'baton.run_id',
  step: 'baton.step',
  attempt: 'baton.attempt',
  toolOk: 'baton.tool.ok',
} as const;

/** Sets Baton's attributes on the span the SDK's interceptor made active for this attempt. */
class CallAttributes implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: ActivityContext) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
    const span = (require('@opentelemetry/api') as typeof otel).trace.getActiveSpan();
    const type = this.ctx.info.activityType;
    if (!span || (type !== 'callModel' && type !== 'callTool')) return next(input);
    const runId = this.ctx.info.workflowExecution?.workflowId;
    if (runId) span.setAttribute(ATTR.runId, runId);
    span.setAttribute(ATTR.attempt, this.ctx.info.attempt);
    const stepPayload = input.headers[STEP_HEADER];
    if (stepPayload) {
      const step = defaultPayloadConverter.fromPayload(stepPayload);
      if (typeof step === 'string') span.setAttribute(ATTR.step, step);
    }
    if (type === 'callModel') {
      const req = input.args[0] as ModelRequest | undefined;
      if (req?.profile) {
        span.setAttribute(ATTR.operation, 'chat');
        span.setAttribute(ATTR.provider, req.profile.provider);
        span.setAttribute(ATTR.system, req.profile.provider);
        span.setAttribute(ATTR.requestModel, req.profile.model);
      }
      const res = (await next(input)) as ModelResponse;
      span.setAttribute(ATTR.responseModel, res.model);
      span.setAttribute(ATTR.inputTokens, res.usage.inputTokens);
      span.setAttribute(ATTR.outputTokens, res.usage.outputTokens);
      span.setAttribute(ATTR.finishReasons, [res.finishReason]);
      span.setAttribute(ATTR.costUsd, res.costUsd);
      return res;
    }
    const req = input.args[0] as ToolCallRequest | undefined;
    if (req?.name) {
      span.setAttribute(ATTR.operation, 'execute_tool');
      span.setAttribute(ATTR.toolName, req.name);
    }
    const res = (await next(input)) as ToolCallResult;
    span.setAttribute(ATTR.toolOk, res.ok);
    return res;
  }
}

/** The activity interceptors of a traced worker, spans going to `tracer`. */
export function activityInterceptors(tracer: otel.Tracer): ActivityInterceptorsFactory[] {
  // Loaded with tracing only: a worker without it does not hold OpenTelemetry's code.
  const { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } =
    require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  return [
    // Listed first is outermost: the SDK's interceptor opens the attempt's span, CallAttributes runs inside it.
    (ctx) => ({
      inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
      outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
    }),
    (ctx) => ({ inbound: new CallAttributes(ctx) }),
  ];
}
