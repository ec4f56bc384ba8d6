import type { Duration as TemporalDuration } from '@temporalio/common';
import {
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createModelActivities } from '../activities/model';
import { NON_RETRYABLE_MODEL_ERRORS } from '../error-types';
import type { AgentStep, ChatMessage, Duration, ModelRequest, ModelResponse, StepRetry } from '../types';
import type { RunOptions } from './api';
import type { RunState } from './run-state';
import { renderTemplate, type TemplateScope } from './template';

type ModelActivities = ReturnType<typeof createModelActivities>;

/** Payloads are limited to 2 MB; keep a request's JSON well under it. */
const MAX_REQUEST_CHARS = 1_500_000;

const DEFAULTS = {
  timeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
} as const;

/** How one model call is run: its timeout and retry policy. */
export interface CallSettings {
  timeout?: Duration;
  retry?: StepRetry;
  options?: RunOptions;
}

/** Activity options for a model call: explicit timeouts, and a retry policy that stops on errors no retry can fix. */
export function modelActivityOptions(
  profileTimeout: Duration | undefined,
  s: CallSettings,
  summary?: string,
): ActivityOptions {
  // Our durations are validated strings or numbers; Temporal's type is a narrower template literal.
  const d = (x: Duration) => x as TemporalDuration;
  const r = { ...DEFAULTS.retry, ...s.retry };
  return {
    startToCloseTimeout: d(s.timeout ?? profileTimeout ?? s.options?.defaultTimeout ?? DEFAULTS.timeout),
    heartbeatTimeout: d(s.options?.heartbeatTimeout ?? DEFAULTS.heartbeatTimeout),
    retry: {
      initialInterval: d(r.initialInterval),
      backoffCoefficient: r.backoffCoefficient,
      maximumInterval: d(r.maximumInterval),
      maximumAttempts: r.maximumAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_MODEL_ERRORS,
    },
    ...(summary && { summary }),
  };
}

/**
 * Make one model call as an activity, counted against the step and the run's budget.
 *
 * @example const res = await callModel(state, 'draft', { profile, messages }, { timeout: '1 minute' });
 */
export async function callModel(
  state: RunState,
  stepName: string,
  req: ModelRequest,
  settings: CallSettings = {},
): Promise<ModelResponse> {
  // Once the run has failed, no new call starts (RunStopped).
  state.gates.assertRunning(`step '${stepName}' made no further model call`);
  state.checkBudget(stepName);
  // An activity input over Temporal's 2 MB payload limit cannot even be scheduled; fail the step
  // with a reason instead of failing the workflow task forever.
  const size = JSON.stringify(req).length;
  if (size > MAX_REQUEST_CHARS) {
    throw ApplicationFailure.create({
      type: 'PromptTooLarge',
      nonRetryable: true,
      message: `the model request of step '${stepName}' is ${size} characters, over the ${MAX_REQUEST_CHARS} a Temporal payload can carry; shorten its prompt or what flows into it (upstream outputs, tool observations, fan-out lists)`,
    });
  }
  const options = modelActivityOptions(req.profile.timeout, settings, stepName);
  // Local activities skip the server round trip per call; see RunOptions.localActivities for the trade-off.
  const acts = settings.options?.localActivities
    ? proxyLocalActivities<ModelActivities>({
        startToCloseTimeout: options.startToCloseTimeout!,
        retry: options.retry!,
      })
    : proxyActivities<ModelActivities>(options);
  const res = await acts.callModel(req);
  state.record(stepName, res);
  return res;
}

/** The messages an agent step sends: its system prompt, then its rendered prompt. */
export function agentMessages(
  step: Pick<AgentStep, 'system' | 'prompt'>,
  scope: TemplateScope,
): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (step.system) messages.push({ role: 'system', content: renderTemplate(step.system, scope) });
  messages.push({ role: 'user', content: renderTemplate(step.prompt, scope) });
  return messages;
}

/**
 * Run one agent step that makes a single model call (no tools) and return its output text.
 * With an output schema the output is the model's JSON.
 */
export async function runAgentCall(
  state: RunState,
  stepKey: string,
  step: AgentStep,
  scope: TemplateScope,
  options?: RunOptions,
): Promise<string> {
  const req: ModelRequest = { profile: step.profile, messages: agentMessages(step, scope) };
  if (step.outputSchema) req.responseFormat = { name: 'output', schema: step.outputSchema };
  const res = await callModel(state, stepKey, req, {
    ...(step.timeout !== undefined && { timeout: step.timeout }),
    ...(step.retry && { retry: step.retry }),
    ...(options && { options }),
  });
  return res.text;
}
