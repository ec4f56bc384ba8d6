import type { Duration as TemporalDuration } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  TimeoutFailure,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createModelActivities } from '../activities/model';
import { NON_RETRYABLE_MODEL_ERRORS, STRUCTURED_OUTPUT_ERROR } from '../error-types';
import { DEFAULT_OUTPUT_REPAIRS, repairPrompt, structuredOutputMessage } from '../structured-output';
import type {
  AgentStep,
  ChatMessage,
  Duration,
  ModelRequest,
  ModelResponse,
  SchemaIssue,
  StepRetry,
} from '../types';
import type { RunOptions } from './api';
import { withFallbacks } from './fallbacks';
import { modelRequestDigest } from './digest';
import { acquire, moneyOf, worstCaseOf, type Money, type Reservation } from './ledger';
import type { RunState } from './run-state';
import { renderTemplate, type TemplateScope } from './template';

type ModelActivities = ReturnType<typeof createModelActivities>;

/** Payloads are limited to 2 MB; keep a request's JSON well under it. */
const MAX_REQUEST_CHARS = 1_500_000;
/**
 * With the payload store (Baton's default data converter), a large request goes to the store and
 * history holds its reference: the limit is then the model's, not Temporal's.
 */
const MAX_STORED_REQUEST_CHARS = 64_000_000;
// Runs that started before: a request over MAX_REQUEST_CHARS failed the step.
const LARGE_REQUEST_PATCH = 'baton-large-requests-by-reference';
/** Awaited where a call used to await an async function that returned at once. */
const SETTLED: Promise<void> = Promise.resolve();

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
  /** The activity summary the Temporal UI shows (default: the step's name), e.g. `review[3]` for a fan-out instance. */
  summary?: string;
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
 * Make one model call as an activity, counted against the step and the run's ledger: the call
 * reserves its worst case before it starts (waiting at the budget gate when that would cross the
 * budget), and settles to the real usage when it returns. Attempts that ended without an answer
 * (timeout, lost worker, cut connection) may have been billed by the provider without saying how
 * much: each is counted at the call's worst case.
 *
 * @example const res = await callModel(state, 'draft', { profile, messages }, { timeout: '1 minute' });
 */
export async function callModel(
  state: RunState,
  stepName: string,
  req: ModelRequest,
  settings: CallSettings = {},
): Promise<ModelResponse> {
  // A profile with fallbacks: one call per profile, in order, each through this function.
  if (req.profile.fallbacks?.length)
    return withFallbacks(state, stepName, req, (r) => callModel(state, stepName, r, settings));
  // Once the run has failed, no new call starts (RunStopped).
  state.gates.assertRunning(`step '${stepName}' made no further model call`);
  // An activity input over Temporal's 2 MB payload limit cannot even be scheduled; fail the step
  // with a reason instead of failing the workflow task forever.
  const size = JSON.stringify(req).length;
  if (size > MAX_REQUEST_CHARS && (size > MAX_STORED_REQUEST_CHARS || !patched(LARGE_REQUEST_PATCH))) {
    const limit = size > MAX_STORED_REQUEST_CHARS ? MAX_STORED_REQUEST_CHARS : MAX_REQUEST_CHARS;
    throw ApplicationFailure.create({
      type: 'PromptTooLarge',
      nonRetryable: true,
      message: `the model request of step '${stepName}' is ${size} characters, over the ${limit} a model request may carry; shorten its prompt or what flows into it (upstream outputs, tool observations, fan-out lists)`,
    });
  }
  // Zero-cost regression: an unchanged request is answered from the run it replays, no activity.
  // Only runs started with recordedAnswers (eval replays) take this branch; recorded histories
  // never carry it, so their command order is unchanged.
  const recorded = settings.options?.recordedAnswers;
  if (recorded !== undefined) {
    const hit = recorded[modelRequestDigest(req)];
    if (hit !== undefined) {
      const res: ModelResponse = {
        ...hit,
        usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 },
        costUsd: 0,
        recorded: true,
      };
      delete res.unansweredAttempts;
      state.record(stepName, res);
      return res;
    }
  }
  const worst = worstCaseOf(req);
  // Without a budget the reservation is taken at once; awaiting a settled promise keeps the one
  // microtask turn acquire() took (so commands of parallel branches keep their order) without
  // creating acquire's own promise, which Temporal's promise hook would capture a stack trace for.
  let reservation: Reservation | undefined;
  if (state.ledger.limited) reservation = await acquire(state, stepName, worst);
  else {
    reservation = state.ledger.reserve(worst);
    await SETTLED;
  }
  // No reservation under a budget: a run recorded before the ledger, which counted successful calls only.
  const legacy = reservation === undefined;
  let res: ModelResponse;
  try {
    res = await scheduleModelCall(stepName, req, settings);
  } catch (err) {
    if (!legacy) failedCall(state, reservation, err, worst);
    throw err;
  }
  answeredCall(state, stepName, reservation, res, worst, legacy);
  return res;
}

/** Schedule a model call's activity (local with `localActivities`); the SDK's promise of its answer. */
function scheduleModelCall(
  stepName: string,
  req: ModelRequest,
  settings: CallSettings,
): Promise<ModelResponse> {
  const options = modelActivityOptions(req.profile.timeout, settings, settings.summary ?? stepName);
  // Local activities skip the server round trip per call; see RunOptions.localActivities for the trade-off.
  const acts = settings.options?.localActivities
    ? proxyLocalActivities<ModelActivities>({
        startToCloseTimeout: options.startToCloseTimeout!,
        retry: options.retry!,
        // The step's name in the Temporal UI; user metadata on the marker, not compared on replay.
        ...(options.summary && { summary: options.summary }),
      })
    : proxyActivities<ModelActivities>(options);
  // The step's name travels with the call so its streamed events say whose tokens they are.
  return acts.callModel({
    ...req,
    step: options.summary ?? stepName,
    ...(settings.options?.streamRunId !== undefined && { streamRunId: settings.options.streamRunId }),
  });
}

/** A call that came back with an answer: settle its reservation to what it cost, count it against its step. */
function answeredCall(
  state: RunState,
  stepName: string,
  reservation: Reservation | undefined,
  res: ModelResponse,
  worst: Money,
  legacy = false,
): void {
  state.ledger.settle(
    reservation,
    addUnanswered(moneyOf(res.usage, res.costUsd), legacy ? 0 : (res.unansweredAttempts ?? 0), worst),
  );
  state.record(stepName, res);
}

/** A call that failed: its attempts that ended without an answer count at the call's worst case. */
function failedCall(state: RunState, reservation: Reservation | undefined, err: unknown, worst: Money): void {
  state.ledger.settle(reservation, unansweredCost(unansweredAttemptsOf(err), worst));
}

function unansweredCost(n: number, worst: Money): Money {
  return { tokens: n * worst.tokens, costUsd: Math.round(n * worst.costUsd * 1e8) / 1e8 };
}

function addUnanswered(m: Money, n: number, worst: Money): Money {
  const u = unansweredCost(n, worst);
  return { tokens: m.tokens + u.tokens, costUsd: Math.round((m.costUsd + u.costUsd) * 1e8) / 1e8 };
}

/**
 * How many attempts of a failed model call ended without an answer (so may have been billed):
 * the model activity reports it in its failure's details, or in its heartbeat details when the
 * last attempt itself timed out (that attempt counts too).
 */
function unansweredAttemptsOf(err: unknown): number {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure) {
    const d = cause.details?.[0] as { unansweredAttempts?: unknown } | undefined;
    return typeof d?.unansweredAttempts === 'number' ? d.unansweredAttempts : 0;
  }
  if (cause instanceof TimeoutFailure) {
    const d = cause.lastHeartbeatDetails as { unanswered?: unknown } | undefined;
    return (typeof d?.unanswered === 'number' ? d.unanswered : 0) + 1;
  }
  return 0;
}

/** A structured reply as checked: its value, or the issues that make it unfit. */
export type ReplyCheck<T> = { ok: true; value: T } | { ok: false; issues: SchemaIssue[] };

/** Marks runs that re-ask for an unfit structured reply and fail with StructuredOutputError. */
export const STRUCTURED_REPAIR_PATCH = 'structured-output-repair';

/** A reply checked by the model activity against its JSON Schema; its value is the JSON text. */
export function activityCheck(res: ModelResponse): ReplyCheck<string> {
  const s = res.structured;
  // Results recorded before the activity checked replies carry no check: they stand as they were.
  if (!s || s.valid) return { ok: true, value: s?.json ?? res.text };
  return { ok: false, issues: s.issues };
}

/**
 * Ask for a structured reply until one fits: each reply is checked with `check`; an unfit one is
 * answered with its issues and asked again (`call` makes a real, counted model call), at most
 * `repairs` times; then the step fails with a non-retryable StructuredOutputError naming the step,
 * the schema path and the reply's start. Runs recorded before this existed keep their old
 * course: the last check is returned unfit and the caller does what it did then.
 *
 * @example
 * const { checked } = await withRepairs('triage', messages, (m) => callModel(state, 'triage', { ...req, messages: m }), activityCheck);
 */
export async function withRepairs<T>(
  stepName: string,
  messages: ChatMessage[],
  call: (messages: ChatMessage[]) => Promise<ModelResponse>,
  check: (res: ModelResponse) => ReplyCheck<T>,
  repairs: number = DEFAULT_OUTPUT_REPAIRS,
): Promise<{ res: ModelResponse; checked: ReplyCheck<T> }> {
  let sent = messages;
  for (let replies = 1; ; replies++) {
    const res = await call(sent);
    const checked = check(res);
    if (checked.ok || !patched(STRUCTURED_REPAIR_PATCH)) return { res, checked };
    if (replies > Math.max(0, repairs)) {
      throw ApplicationFailure.create({
        type: STRUCTURED_OUTPUT_ERROR,
        nonRetryable: true,
        message: structuredOutputMessage(stepName, checked.issues, res.text, replies),
        details: [{ step: stepName, issues: checked.issues.slice(0, 10) }],
      });
    }
    sent = [
      ...sent,
      { role: 'assistant', content: res.text },
      { role: 'user', content: repairPrompt(checked.issues) },
    ];
  }
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
 * With an output schema the output is the model's JSON, checked against the schema (and asked
 * for again when it does not fit; see withRepairs).
 */
export function runAgentCall(
  state: RunState,
  stepKey: string,
  step: AgentStep,
  scope: TemplateScope,
  options?: RunOptions,
  summary?: string,
): Promise<string> {
  // Not an async function: `.then` settles on the same microtask turn as `return (await x).text`
  // did, with one promise fewer per step (each one costs a stack trace under Temporal's promise
  // hook). A throw before the call still comes back as a rejected promise, as before.
  let req: ModelRequest;
  let settings: CallSettings;
  try {
    req = { profile: step.profile, messages: agentMessages(step, scope) };
    if (step.outputSchema) req.responseFormat = { name: 'output', schema: step.outputSchema };
    settings = {
      ...(step.timeout !== undefined && { timeout: step.timeout }),
      ...(step.retry && { retry: step.retry }),
      ...(options && { options }),
      ...(summary && { summary }),
    };
    if (!req.responseFormat) return callModel(state, stepKey, req, settings).then(textOf);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return structuredCall(state, stepKey, step, req, settings);
}

const textOf = (res: ModelResponse) => res.text;

/**
 * The lean course of a plain agent step (one model call, no output schema, no fallbacks, no
 * budget, no recorded answers), for runs from LEAN_STEPS_PATCH on: the call is scheduled at once
 * and its answer handed to `onText` from the one `.then` on the SDK's promise, where callModel
 * went through an async function, two awaits and a `.then` (each a promise, and each promise
 * costs a stack trace under Temporal's promise hook). What is scheduled and counted is the same.
 * Returns false, having done nothing, for any other step: the caller runs it the usual way.
 */
export function startPlainAgentCall(
  state: RunState,
  stepKey: string,
  step: AgentStep,
  scope: TemplateScope,
  options: RunOptions | undefined,
  onText: (text: string) => void,
  onError: (err: unknown) => void,
): boolean {
  if (step.outputSchema || step.profile.fallbacks?.length || state.ledger.limited) return false;
  if (options?.recordedAnswers !== undefined || state.stopped !== undefined) return false;
  let req: ModelRequest;
  try {
    req = { profile: step.profile, messages: agentMessages(step, scope) };
  } catch {
    return false; // the usual course fails the step with the template's error
  }
  if (JSON.stringify(req).length > MAX_REQUEST_CHARS) return false;
  const settings: CallSettings = {
    ...(step.timeout !== undefined && { timeout: step.timeout }),
    ...(step.retry && { retry: step.retry }),
    ...(options && { options }),
  };
  const worst = worstCaseOf(req);
  const reservation = state.ledger.reserve(worst);
  void scheduleModelCall(stepKey, req, settings).then(
    (res) => {
      answeredCall(state, stepKey, reservation, res, worst);
      onText(res.text);
    },
    (err: unknown) => {
      failedCall(state, reservation, err, worst);
      onError(err);
    },
  );
  return true;
}

/** A model call whose reply must fit the step's output schema (see withRepairs). */
async function structuredCall(
  state: RunState,
  stepKey: string,
  step: AgentStep,
  req: ModelRequest,
  settings: CallSettings,
): Promise<string> {
  const { res, checked } = await withRepairs(
    stepKey,
    req.messages,
    (messages) => callModel(state, stepKey, { ...req, messages }, settings),
    activityCheck,
    step.outputRepairs,
  );
  // Unfit only when replaying a run recorded before replies were checked: its text stood then.
  return checked.ok ? checked.value : res.text;
}
