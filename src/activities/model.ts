import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ModelBatchInput, ModelBatchResult, ModelRequest, ModelResponse } from '../types';
import { classifyProviderError, toApplicationFailure, type ProviderErrorLike } from './errors';
import { costOf } from './cost';
import { keepAlive } from './heartbeat';
import { EndpointPolicy, type AllowedEndpoint } from './endpoints';
import { checkReply, schemaProblem } from './json-schema';
import { ProviderRegistry, type ReplyDelta } from './providers';
import { ConversationStore } from './conversation';
import { batchFlushMsFromEnv, runModelBatch } from './model-batch';
import { CallPublisher, eventBusFromEnv, type EventBus } from '../streams';

/**
 * The model-call activities. `env` is the worker's environment, where keys and base URLs live;
 * `allowedEndpoints` adds to the endpoints that environment allows (see EndpointPolicy.fromEnv).
 * Throws EndpointSettingsError when BATON_ALLOWED_ENDPOINTS or an entry is malformed.
 *
 * @example new Worker({ activities: createModelActivities(), ... })
 */
export function createModelActivities(
  opts: {
    env?: NodeJS.ProcessEnv;
    allowedEndpoints?: AllowedEndpoint[];
    /** Where ReAct conversations are kept (default: the payload store `env` configures). */
    conversations?: ConversationStore;
    events?: EventBus;
  } = {},
) {
  const env = opts.env ?? process.env;
  // Where deltas and step events go (docs/streaming.md): Redis Streams when the environment names a
  // Redis, else this process's memory.
  const events = opts.events ?? eventBusFromEnv(env);
  const providers = new ProviderRegistry(env, EndpointPolicy.fromEnv(env, opts.allowedEndpoints));
  let conversations = opts.conversations;
  const conversationStore = () => (conversations ??= ConversationStore.fromEnv(env));
  const batchFlushMs = batchFlushMsFromEnv(env);

  return {
    /**
     * A batch of a wide fan-out's model calls run at once inside one activity (docs/scale.md):
     * each call with its own retries; finished calls recorded in heartbeat details.
     */
    async callModelBatch(input: ModelBatchInput): Promise<ModelBatchResult> {
      return runModelBatch(providers, input, batchFlushMs, events);
    },
    /**
     * One model call: the step's messages in, text, tool calls, usage and cost out. With a
     * response format the reply is checked against its schema here (`structured`), and the
     * workflow decides whether to ask again.
     */
    async callModel(req: ModelRequest): Promise<ModelResponse> {
      const ctx = Context.current();
      const provider = providers.get(req.profile);
      // A schema that cannot be compiled could never be met: refuse before paying for a call.
      const problem = req.responseFormat && schemaProblem(req.responseFormat.schema);
      if (problem) {
        throw ApplicationFailure.create({
          type: 'InvalidDefinition',
          nonRetryable: true,
          message: `the output schema '${req.responseFormat!.name}' is not a valid JSON Schema: ${problem}`,
        });
      }
      const startedAt = Date.now();
      // Billing of failed attempts: an attempt that ended without an answer (timeout, lost worker,
      // cut connection) may have been billed, and nobody learns how much. Each attempt after the
      // first marks itself in flight in its heartbeat details; the next attempt reads them and counts
      // the earlier one as unanswered unless it recorded an answer (an HTTP error status, which
      // providers do not bill). The first attempt records nothing up front (no heartbeat, so no
      // server write, on the path of every call): a second attempt that finds no details at all
      // knows the first ended without recording an answer, and counts it the same way.
      const before = billingOf(ctx.info.heartbeatDetails, ctx.info.isLocal ? 1 : ctx.info.attempt);
      const billing: AttemptBilling = {
        unanswered: before.unanswered + (before.inFlight ? 1 : 0),
        inFlight: true,
      };
      if (!ctx.info.isLocal && ctx.info.attempt > 1) ctx.heartbeat(billing);
      const stopHeartbeat = keepAlive(ctx, () => billing);
      // Out of band, never in history: the next attempt of a call announces itself as retrying, so
      // watchers drop the text the failed attempt streamed.
      const attempt = ctx.info.attempt;
      const stream = new CallPublisher(
        events,
        req.streamRunId ?? ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId,
        { ...(req.step && { step: req.step }), attempt, call: ctx.info.activityId },
        (m) => ctx.log.warn(m),
      );
      stream.emit(attempt > 1 ? 'step.retrying' : 'step.started');
      const onDelta = (d: ReplyDelta) =>
        d.type === 'text'
          ? stream.emit('text.delta', { text: d.text })
          : stream.emit('tool_call.delta', {
              index: d.index,
              ...(d.id && { toolCallId: d.id }),
              ...(d.name && { name: d.name }),
              arguments: d.arguments,
            });
      try {
        // A stored conversation is read here: the request is whole, history holds its reference.
        const { earlier, keepConversation, ...plain } = req;
        const sent = earlier
          ? { ...plain, messages: [...(await conversationStore().load(earlier)), ...req.messages] }
          : plain;
        const reply = await provider.complete(sent, { signal: ctx.cancellationSignal, onDelta });
        const conversation = keepConversation
          ? await conversationStore().keep(earlier, req.messages)
          : undefined;
        const costUsd = costOf(reply.usage, req.profile.pricing);
        stream.emit('step.completed', { usage: reply.usage, costUsd, finishReason: reply.finishReason });
        // Stored before the workflow hears of the result, so a watcher that sees the run end has every event.
        await stream.flush();
        return {
          ...reply,
          ...(conversation && { conversation }),
          costUsd,
          provider: req.profile.provider,
          profile: req.profile.name,
          timing: { startedAt, endedAt: Date.now(), attempt: ctx.info.attempt },
          ...(req.responseFormat && { structured: checkReply(req.responseFormat.schema, reply.text) }),
          ...(billing.unanswered > 0 && { unansweredAttempts: billing.unanswered }),
        };
      } catch (err) {
        // A failure no retry can fix ends the step; a retryable one is announced by the next attempt.
        const final = ctx.cancellationSignal.aborted || !isRetryable(err, req.profile.provider);
        if (final) {
          stream.emit('step.failed', {
            error: {
              type: ctx.cancellationSignal.aborted
                ? 'Cancelled'
                : (errorType(err, req.profile.provider) ?? 'Error'),
              message: err instanceof Error ? err.message : String(err),
            },
          });
          await stream.flush();
        }
        // A cancelled activity reports the cancellation, not the SDK's abort error.
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        const e = err as ProviderErrorLike;
        // Only the SDKs' HTTP and connection errors are classified; anything else is a bug to see as it is.
        // The SDKs' connection errors keep name 'Error'; their class names say what they are.
        const kind = `${e?.name ?? ''} ${(err as object | undefined)?.constructor?.name ?? ''}`;
        if (e?.status === undefined && !/Connection|Timeout/.test(kind)) throw err;
        // The provider answered with an error status (not billed); a connection error had no answer.
        if (e?.status !== undefined) billing.inFlight = false;
        else billing.unanswered += 1;
        billing.inFlight = false;
        if (!ctx.info.isLocal) ctx.heartbeat(billing);
        const failure = toApplicationFailure(classifyProviderError(e, req.profile.provider));
        throw ApplicationFailure.create({
          type: failure.type ?? undefined,
          message: failure.message,
          nonRetryable: failure.nonRetryable ?? false,
          ...(failure.nextRetryDelay != null && { nextRetryDelay: failure.nextRetryDelay }),
          details: [{ unansweredAttempts: billing.unanswered }],
        });
      } finally {
        stopHeartbeat();
      }
    },
  };
}

/** What an attempt of a model call records in its heartbeat details for the next attempt. */
interface AttemptBilling {
  /** Earlier attempts that ended without an answer. */
  unanswered: number;
  /** This attempt has sent its request and not yet recorded how it ended. */
  inFlight: boolean;
}

function billingOf(details: unknown, attempt: number): AttemptBilling {
  const d = details as Partial<AttemptBilling> | undefined;
  // No details on a later attempt: the first attempt (which records nothing before its call) ended
  // without recording an answer, so it may have been billed. (Local activities record nothing at
  // all: they pass attempt 1.)
  if (d === undefined || d === null) return { unanswered: 0, inFlight: attempt > 1 };
  return {
    unanswered: typeof d?.unanswered === 'number' ? d.unanswered : 0,
    inFlight: d?.inFlight === true,
  };
}

/** Whether Temporal will try a failed call again (as far as this attempt can tell). */
function isRetryable(err: unknown, provider: ModelRequest['profile']['provider']): boolean {
  if (err instanceof ApplicationFailure) return !err.nonRetryable;
  const e = err as ProviderErrorLike;
  if (e?.status === undefined) return true;
  return !toApplicationFailure(classifyProviderError(e, provider)).nonRetryable;
}

function errorType(err: unknown, provider: ModelRequest['profile']['provider']): string | undefined {
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  const e = err as ProviderErrorLike;
  if (e?.status === undefined) return (err as Error | undefined)?.name;
  return toApplicationFailure(classifyProviderError(e, provider)).type ?? undefined;
}
