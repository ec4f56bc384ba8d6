/**
 * Baton's own counters, through the Temporal SDK's metric meter: they go wherever the worker's
 * Runtime sends the SDK's metrics (the Prometheus endpoint of BATON_METRICS_PORT), and nowhere
 * when it has no metrics exporter. Counted per attempt, on the worker that ran it.
 */
import type { Context as ActivityContext } from '@temporalio/activity';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  ActivityOutboundCallsInterceptor,
  GetLogAttributesInput,
  Next,
} from '@temporalio/worker';
import type { ToolCallRequest, ToolCallResult } from '../activities/tools';
import type { ModelRequest, ModelResponse } from '../types';
import { STEP_HEADER } from './names';

/** Metric names as created on the meter (Prometheus adds `_total` to counters). */
export const METRIC = {
  tokens: 'baton_model_tokens',
  costMicroUsd: 'baton_model_cost_microusd',
  modelCalls: 'baton_model_calls',
  toolCalls: 'baton_tool_calls',
} as const;

/** What a failed call is counted under: its failure type, else its error's name. */
function outcomeOf(err: unknown): string {
  if (err instanceof ApplicationFailure && err.type) return err.type;
  if (err instanceof Error) return err.name || 'Error';
  return 'Error';
}

/** What the inbound side learnt of the call (its step, from the header the workflow side sets). */
interface CallFacts {
  step?: string;
}

/** Puts the call's step on every log line of the activity (`step: "review[3]"`). */
class StepLogAttributes implements ActivityOutboundCallsInterceptor {
  constructor(private readonly facts: CallFacts) {}

  getLogAttributes(
    input: GetLogAttributesInput,
    next: Next<ActivityOutboundCallsInterceptor, 'getLogAttributes'>,
  ): Record<string, unknown> {
    return next(this.facts.step === undefined ? input : { ...input, step: this.facts.step });
  }
}

class CallCounters implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: ActivityContext,
    private readonly facts: CallFacts = {},
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
    const stepPayload = input.headers[STEP_HEADER];
    if (stepPayload) {
      const step: unknown = defaultPayloadConverter.fromPayload(stepPayload);
      if (typeof step === 'string') this.facts.step = step;
    }
    const type = this.ctx.info.activityType;
    if (type !== 'callModel' && type !== 'callTool') return next(input);
    const meter = this.ctx.metricMeter;
    if (type === 'callModel') {
      const req = input.args[0] as ModelRequest | undefined;
      const tags = { provider: req?.profile?.provider ?? 'unknown', model: req?.profile?.model ?? 'unknown' };
      const calls = meter.createCounter(METRIC.modelCalls, 'calls', 'Model call attempts by outcome');
      let res: ModelResponse;
      try {
        res = (await next(input)) as ModelResponse;
      } catch (err) {
        calls.add(1, { ...tags, outcome: outcomeOf(err) });
        throw err;
      }
      calls.add(1, { ...tags, outcome: 'ok' });
      const tokens = meter.createCounter(METRIC.tokens, 'tokens', 'Model tokens by direction');
      tokens.add(res.usage.inputTokens, { ...tags, direction: 'input' });
      tokens.add(res.usage.outputTokens, { ...tags, direction: 'output' });
      meter
        .createCounter(METRIC.costMicroUsd, 'microusd', 'Model cost in millionths of a US dollar')
        .add(Math.round(res.costUsd * 1e6), tags);
      this.ctx.log.info('model call completed', {
        ...tags,
        inputTokens: res.usage.inputTokens,
        outputTokens: res.usage.outputTokens,
        costUsd: res.costUsd,
      });
      return res;
    }
    const req = input.args[0] as ToolCallRequest | undefined;
    const tags = { tool: req?.name ?? 'unknown' };
    const calls = meter.createCounter(METRIC.toolCalls, 'calls', 'Tool call attempts by outcome');
    let res: ToolCallResult;
    try {
      res = (await next(input)) as ToolCallResult;
    } catch (err) {
      calls.add(1, { ...tags, outcome: outcomeOf(err) });
      throw err;
    }
    const outcome = res.ok ? 'ok' : (res.error ?? 'error');
    calls.add(1, { ...tags, outcome });
    this.ctx.log.info('tool call completed', { ...tags, outcome });
    return res;
  }
}

/**
 * Activity interceptors that count model and tool calls, tokens and cost on the SDK's metric meter,
 * log each completed call at INFO (the SDK's activity logger adds the run id), and put the call's
 * step on every log line of the activity (from the header STEP_WORKFLOW_MODULE sets).
 */
export function metricsActivityInterceptors(): ActivityInterceptorsFactory[] {
  return [
    (ctx) => {
      const facts: CallFacts = {};
      return { inbound: new CallCounters(ctx, facts), outbound: new StepLogAttributes(facts) };
    },
  ];
}

/** The workflow interceptor module every worker bundles: model and tool calls carry their step in a header. */
export const STEP_WORKFLOW_MODULE: string = require.resolve('./step-header-interceptors');

/** BATON_METRICS_PORT is not a port; the message names it. */
export class MetricsSettingsError extends Error {
  override name = 'MetricsSettingsError';
}

/**
 * The Prometheus bind address BATON_METRICS_PORT asks for: `9464` listens on every interface
 * (0.0.0.0:9464), `127.0.0.1:9464` only there. Undefined when unset.
 */
export function prometheusBindAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.BATON_METRICS_PORT?.trim();
  if (!raw) return undefined;
  const m = /^(?:(.+):)?(\d+)$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new MetricsSettingsError(
      `BATON_METRICS_PORT=${raw} is not a port: give e.g. 9464 (all interfaces) or 127.0.0.1:9464`,
    );
  return `${m[1] ?? '0.0.0.0'}:${port}`;
}
