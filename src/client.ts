import { randomUUID } from 'node:crypto';
/**
 * The typed client backend services import: start runs (idempotently, by a run id you choose),
 * read progress, wait for results, cancel. The CLI and HTTP API are thin shells over it.
 */
import {
  Client,
  Connection,
  InternalConnectionLikeSymbol,
  WorkflowExecutionAlreadyStartedError,
  type ConnectionLike,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowExecutionInfo,
  type WorkflowHandle,
} from '@temporalio/client';
// The SDK's own row conversion (not re-exported; @temporalio/* is pinned to one exact version),
// so listRuns can keep going past a row whose memo it cannot decode.
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers';
import {
  ApplicationFailure,
  WorkflowNotFoundError,
  type DataConverter,
  type QueryDefinition,
} from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  checkDefinition,
  describeIssues,
  issuesOf,
  runIdSchema,
  runOptionsSchema,
  type DefinitionIssue,
} from './config/definition-schema';
import { dataConverterFromEnv, decodePayloads } from './codec';
import { pool } from './pool';
import { resolveProfile } from './config/profiles';
import { clientInterceptors, tracingFromEnv, type Tracing } from './telemetry';
import { ZERO_USAGE, type EnsembleDefinition, type ModelProfile } from './types';
import { DEFAULT_TASK_QUEUE } from './worker';
import {
  DECISION_REFUSED,
  PENDING_APPROVALS_MEMO,
  PENDING_APPROVAL_COUNT_MEMO,
  RUN_WORKFLOW,
  SEARCH_ATTRIBUTES,
  decideUpdate,
  pendingApprovalsQuery,
  progressQuery,
  stepOutputQuery,
  type ApprovalDecision,
  type DecisionInput,
  type PendingApproval,
  type PendingApprovalSummary,
  type ResumeState,
  type RunInput,
  type RunOptions,
  type RunProgress,
  type RunResult,
} from './workflows/api';
import type { Money } from './workflows/ledger';
import { eventBusFromEnv, followRun, type EventBus, type StreamEvent } from './streams';

export type { StreamEvent, StreamEventType, EventBus } from './streams';
export type {
  ResumeState,
  RunInput,
  RunLineage,
  RunOptions,
  RunProgress,
  RunResult,
  StepProgress,
} from './workflows/api';
export type {
  ApprovalDecision,
  ApprovalRequest,
  DecisionInput,
  PendingApproval,
  PendingApprovalSummary,
  ToolCallForApproval,
} from './workflows/api';

/** A run that ended in failure: which step failed, why, and every result it had. */
export class RunFailedError extends Error {
  override name = 'RunFailedError';
  constructor(
    readonly runId: string,
    readonly type: string,
    message: string,
    /** Progress at the moment of failure: completed steps keep their outputs. */
    readonly progress?: RunProgress,
  ) {
    super(`run ${runId} failed: ${message}`);
  }

  /** The step that failed, when a step did. */
  get step(): string | undefined {
    return this.progress?.error?.step;
  }
}

export interface StartOptions {
  /** Your id for the run. Starting again with the same id returns the existing run instead of a second one. */
  runId?: string;
  options?: RunOptions;
  /** Override the client's task queue for this run. */
  taskQueue?: string;
  /** Start from an earlier run's completed steps (what retry and fork use). */
  resume?: ResumeState;
  /** Who starts the run (a person or an API key's principal), kept in the run's memo as `BatonStartedBy`. */
  startedBy?: string;
}

/** A running run's progress could not be read because no worker answered for it. */
export class ProgressUnavailableError extends Error {
  override name = 'ProgressUnavailableError';
}

/** One line of {@link BatonClient.listRuns}. */
export interface RunListing {
  runId: string;
  ensemble: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW. */
  status: string;
  /** ISO time the run started. */
  started: string;
  /** Who started it, when the starter said (StartOptions.startedBy). */
  startedBy?: string;
  /**
   * Why the run's memo (its ensemble name, who started it) could not be read: it was encrypted
   * with a key this client does not have (set BATON_CODEC_KEYS as the workers have it).
   */
  unreadable?: string;
}

/** A request the client refuses before anything starts: it says what is wrong and what to do. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
  constructor(
    message: string,
    /** For a refused definition, options or run id: each problem with its field path. */
    readonly issues?: DefinitionIssue[],
  ) {
    super(message);
  }
}

/** Memo key holding who started a run (StartOptions.startedBy). */
export const STARTED_BY_MEMO = 'BatonStartedBy';

/** Who the runs started inside {@link BatonClient.actingAs} are recorded as started by. */
const acting = new AsyncLocalStorage<string>();

export interface RetryOptions {
  /** Id of the new run (default: `<runId>-retry-<time>`); reusing it returns that run. */
  runId?: string;
  /**
   * Top-level steps to count as completed with these outputs, not run again: for an operator who
   * checked that a failed step's effect happened (a `ToolOutcomeUnknown`, see docs/tools.md).
   */
  completed?: Record<string, string>;
  /** A corrected definition (e.g. a changed profile); steps are matched by name. Default: the failed run's. */
  definition?: EnsembleDefinition;
  options?: RunOptions;
  /**
   * Count what the earlier runs of this lineage spent against the new run's budget (a lineage
   * budget): a retry of a run that spent $0.04 of a $0.05 budget has $0.01 left. Default false:
   * the new run's budget is its own. Either way its progress shows that spending as `budget.lineage`.
   */
  lineageBudget?: boolean;
}

export interface ForkOptions extends RetryOptions {
  /** The step to run again; everything not downstream of it is reused. */
  fromStep: string;
  /** A new run input (default: the original run's). */
  input?: string;
  /** Changes to `fromStep` itself. */
  overrides?: { prompt?: string; system?: string; profile?: ModelProfile | string };
}

/** Names of the steps that depend on `step`, directly or through others. */
export function downstreamOf(definition: EnsembleDefinition, step: string): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of definition.steps) {
      if (!out.has(s.name) && s.dependsOn.some((d) => d === step || out.has(d))) {
        out.add(s.name);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * What a run and the runs before it (its retries' and forks' parents) spent: its ledger's spending
 * (failed attempts and children included), plus its lineage when that was not already counted in.
 */
export function lineageSpentOf(p: Pick<RunProgress, 'budget' | 'usage' | 'costUsd'>): Money {
  const b = p.budget;
  if (!b) return { tokens: p.usage.inputTokens + p.usage.outputTokens, costUsd: p.costUsd };
  if (b.lineageCounted || !b.lineage) return { ...b.spent };
  return {
    tokens: b.spent.tokens + b.lineage.tokens,
    costUsd: Math.round((b.spent.costUsd + b.lineage.costUsd) * 1e8) / 1e8,
  };
}

/** The completed top-level steps of a run, as a resume state that reuses them. */
function reuseOf(
  progress: RunProgress,
  keep: (name: string) => boolean,
  parent: ResumeState['parent'],
): ResumeState {
  const done = progress.steps.filter(
    (s) => s.status === 'completed' && s.output !== undefined && !s.name.includes('/') && keep(s.name),
  );
  // What each reused approval step showed when it was approved: the new run reuses the approval
  // only if the step would show the same now (same digest), else it asks again.
  const names = new Set(done.map((s) => s.name));
  const gates: Record<string, string> = {};
  for (const d of progress.decisions ?? [])
    if (d.gate === d.step && names.has(d.step) && d.outcome === 'approved' && d.digest)
      gates[d.step] = d.digest;
  return {
    reuse: Object.fromEntries(done.map((s) => [s.name, s.output!])),
    steps: done,
    ...(Object.keys(gates).length > 0 && { gates }),
    ...(parent && { parent }),
  };
}

export interface BatonClientOptions {
  /**
   * An open connection; otherwise one is made to `address`. A worker's `NativeConnection` may be
   * passed too: runs this client starts are then started eagerly (Temporal's eager workflow start),
   * their first workflow task handed to a worker of this process that polls their task queue,
   * without a round trip through the server's task queue.
   */
  connection?: Connection | ConnectionLike;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  /**
   * Whether runs use Baton's search attributes (BatonEnsemble, BatonPendingApprovals). Default:
   * yes when they are registered in the namespace (checked once per client). Without them,
   * `listPendingApprovals` reads the memo of every running run instead.
   */
  searchAttributes?: boolean;
  /** Default: an encrypting one when BATON_CODEC_KEYS is set (see docs/encryption.md), else the SDK's. */
  dataConverter?: DataConverter;
  /** Where run events are read from (default: eventBusFromEnv: Redis at BATON_REDIS_URL / REDIS_URL, else this process's memory). */
  events?: EventBus;
  /**
   * Where the span of each start goes (docs/observability.md). Default: OTLP/HTTP when
   * OTEL_EXPORTER_OTLP_ENDPOINT is set, else no tracing. `false`: none.
   */
  tracing?: Tracing | false;
  /**
   * How long a query to a run (its progress, its waiting gates) waits for a
   * worker to answer, in milliseconds (default 10,000). A run whose worker is gone then fails
   * its query in that time, instead of after the server's own limit (about 30 s).
   */
  queryTimeoutMs?: number;
}

/**
 * What a person sends to decide a gate. `gate` may be left out when exactly one gate waits.
 * `digest` is the digest of what the person was shown (PendingApproval.digest): the run refuses
 * the decision as `stale` when the gate now shows something else.
 */
export interface DecideOptions {
  gate?: string;
  /** The digest of the gate as you showed it; leave it out only when you showed nothing (see {@link BatonClient.decide}). */
  digest?: string;
  /** Who decides (recorded with the decision). */
  by: string;
  /** Why (recorded with the decision). */
  comment?: string;
}

/** Approve a gate, optionally with edits: a replaced draft, or replaced tool arguments. */
export interface ApproveOptions extends DecideOptions {
  editedDraft?: string;
  editedArguments?: Record<string, unknown>;
  /** For a budget gate: the run's new total limits (the ones given replace the old). */
  budget?: { maxCostUsd?: number; maxTokens?: number };
}

/** A gate waiting for a decision, somewhere among the running runs. */
export interface PendingApprovalListing extends PendingApprovalSummary {
  runId: string;
  ensemble?: string;
}

/** Why a decision was refused; the run is unchanged. */
export type ApprovalRefusal =
  | 'unknown-gate'
  | 'already-decided'
  | 'gate-required'
  | 'invalid'
  /** The gate shows something else than the digest the decision named: look again. */
  | 'stale'
  /** The run has failed: its gates were released and none can be decided. */
  | 'run-failed'
  | 'run-not-found'
  | 'run-ended';

/** A decision the run (or the server) refused: nothing was recorded, and the message says why. */
export class ApprovalRefusedError extends Error {
  override name = 'ApprovalRefusedError';
  constructor(
    readonly runId: string,
    readonly reason: ApprovalRefusal,
    message: string,
  ) {
    super(`run ${runId}: ${message}`);
  }
}

const REFUSAL_BY_TYPE: Record<string, ApprovalRefusal> = {
  [DECISION_REFUSED.unknownGate]: 'unknown-gate',
  [DECISION_REFUSED.alreadyDecided]: 'already-decided',
  [DECISION_REFUSED.gateRequired]: 'gate-required',
  [DECISION_REFUSED.invalid]: 'invalid',
  [DECISION_REFUSED.stale]: 'stale',
  [DECISION_REFUSED.runFailed]: 'run-failed',
};

/** A handle to one run. */
export interface RunHandle {
  runId: string;
  /** Whether this call started the run (false: it already existed under that id). */
  started: boolean;
  /**
   * True when the run was started eagerly: its first workflow task went straight to a worker of
   * this process (a client made on that worker's NativeConnection), not through the task queue.
   */
  eager?: boolean;
}

/**
 * The client for Baton runs.
 *
 * @example
 * const baton = await BatonClient.connect({ address: '127.0.0.1:7233' });
 * const { runId } = await baton.start(definition, 'Write about durable agents', { runId: 'order-42' });
 * const result = await baton.result(runId);
 */
export class BatonClient {
  readonly taskQueue: string;
  /** Whether starts ask for Temporal's eager workflow start (the connection is a worker's NativeConnection). */
  private readonly eagerStart: boolean;
  private searchAttributesReady?: Promise<boolean>;
  private bus?: EventBus;
  /** Stops every open {@link events} follower; aborted by {@link close}. */
  private readonly following = new Set<AbortController>();
  /** BatonClientOptions.queryTimeoutMs. */
  private readonly queryTimeoutMs: number;

  /** Where {@link events} reads from: BatonClientOptions.events, else eventBusFromEnv (made on first use). */
  get eventBus(): EventBus {
    return (this.bus ??= eventBusFromEnv());
  }

  set eventBus(bus: EventBus) {
    this.bus = bus;
  }

  constructor(
    readonly temporal: Client,
    opts: { taskQueue?: string; searchAttributes?: boolean; queryTimeoutMs?: number } = {},
    private readonly ownedConnection?: Connection | ConnectionLike,
    /** Flushed on close, so a short-lived process (the CLI) does not lose its spans. */
    private readonly tracing?: Tracing,
  ) {
    this.taskQueue = opts.taskQueue ?? process.env.BATON_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 10_000;
    // A worker's NativeConnection: its worker (same process) can take a run's first task at once.
    const internal = (
      temporal.connection as { [InternalConnectionLikeSymbol]?: { supportsEagerStart?: boolean } }
    )[InternalConnectionLikeSymbol];
    this.eagerStart = internal?.supportsEagerStart === true;
    if (opts.searchAttributes !== undefined)
      this.searchAttributesReady = Promise.resolve(opts.searchAttributes);
  }

  /** Connect to Temporal (default: TEMPORAL_ADDRESS, else 127.0.0.1:7233). */
  static async connect(opts: BatonClientOptions = {}): Promise<BatonClient> {
    // Without an address, Temporal's own environment config decides (address, namespace, TLS, API key).
    const config = opts.connection || opts.address ? undefined : loadClientConnectConfig();
    const connection =
      opts.connection ??
      (await Connection.connect(
        config
          ? {
              ...(config.connectionOptions as object),
              address: config.connectionOptions.address ?? '127.0.0.1:7233',
            }
          : { address: opts.address! },
      ));
    const dataConverter = opts.dataConverter ?? dataConverterFromEnv(process.env);
    const tracing = opts.tracing === false ? undefined : (opts.tracing ?? tracingFromEnv(process.env));
    const client = new Client({
      connection,
      namespace: opts.namespace ?? config?.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
      ...(dataConverter && { dataConverter }),
      ...(tracing && { interceptors: { workflow: clientInterceptors(tracing) } }),
    });
    const baton = new BatonClient(
      client,
      {
        ...(opts.taskQueue && { taskQueue: opts.taskQueue }),
        ...(opts.searchAttributes !== undefined && { searchAttributes: opts.searchAttributes }),
        ...(opts.queryTimeoutMs !== undefined && { queryTimeoutMs: opts.queryTimeoutMs }),
      },
      opts.connection ? undefined : connection,
      tracing,
    );
    if (opts.events) baton.eventBus = opts.events;
    return baton;
  }

  /** Start a run. With a `runId` that already names a run, returns that run instead of starting another. */
  async start(definition: EnsembleDefinition, input: string, opts: StartOptions = {}): Promise<RunHandle> {
    // The same schema the run checks its input with: refuse here, before anything starts.
    const issues = checkDefinition(definition, 'definition');
    if (opts.options !== undefined) {
      const checked = runOptionsSchema.safeParse(opts.options);
      if (!checked.success) issues.push(...issuesOf(checked.error, 'options'));
    }
    if (opts.runId !== undefined) {
      const checked = runIdSchema.safeParse(opts.runId);
      if (!checked.success) issues.push(...issuesOf(checked.error, 'runId'));
    }
    if (issues.length)
      throw new InvalidRequestError(`the run cannot start: ${describeIssues(issues)}`, issues);
    const runId = opts.runId ?? `${definition.name}-${crypto.randomUUID()}`;
    const startedBy = opts.startedBy ?? acting.getStore();
    const args: RunInput = {
      definition,
      input,
      ...(opts.options && { options: opts.options }),
      ...(opts.resume && { resume: opts.resume }),
      // Checked above against the schema the run would check it with (and resume comes from a run).
      checked: true,
    };
    // A run started with BatonEnsemble set also upserts BatonPendingApprovals; only set it where they are registered.
    const searchAttributes = await this.searchAttributesAvailable();
    try {
      const handle = await this.temporal.workflow.start(RUN_WORKFLOW, {
        workflowId: runId,
        taskQueue: opts.taskQueue ?? this.taskQueue,
        args: [args],
        // A second start with the same id, running or ended, is refused; we answer with the existing run.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: {
          ensemble: definition.name,
          ...(definition.description && { description: definition.description }),
          ...(startedBy && { [STARTED_BY_MEMO]: startedBy }),
        },
        staticSummary: `${definition.name}: ${definition.steps.length} steps`,
        // With a worker of this process on the task queue and a free slot, the server hands the
        // run's first workflow task back in the start's answer; otherwise the start is as usual.
        ...(this.eagerStart && { requestEagerStart: true }),
        ...(searchAttributes && {
          typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.ensemble, value: definition.name }],
        }),
      });
      return { runId, started: true, ...(handle.eagerlyStarted && { eager: true }) };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { runId, started: false };
      throw err;
    }
  }

  /**
   * Run `fn` with every run it starts (retries and forks too) recorded as started by `principal`,
   * unless a start names its own `startedBy`. The HTTP API wraps each request in it.
   *
   * @example await baton.actingAs('ci-bot', () => baton.retry('order-42'));
   */
  actingAs<T>(principal: string, fn: () => Promise<T>): Promise<T> {
    return acting.run(principal, fn);
  }

  /** Who started a run (its `BatonStartedBy` memo), or undefined when it was not recorded. */
  async startedBy(runId: string): Promise<string | undefined> {
    const { memo } = await this.handle(runId).describe();
    const by = memo?.[STARTED_BY_MEMO];
    return typeof by === 'string' ? by : undefined;
  }

  /** Start a run and wait for its result. */
  async run(definition: EnsembleDefinition, input: string, opts: StartOptions = {}): Promise<RunResult> {
    const { runId } = await this.start(definition, input, opts);
    return this.result(runId);
  }

  /**
   * Delete long-term memories by scope: every memory of a namespace, or of a user (and thread) in
   * it. Runs on a worker (the store is the worker's), as a short workflow; returns how many were deleted.
   *
   * @example await baton.forgetMemories({ namespace: 'support', user: 'u-42' }) // { deleted: 3 }
   */
  async forgetMemories(scope: {
    namespace: string;
    user?: string;
    thread?: string;
  }): Promise<{ deleted: number }> {
    if (typeof scope?.namespace !== 'string' || scope.namespace === '')
      throw new InvalidRequestError('forgetMemories needs a namespace (a non-empty string)');
    for (const k of ['user', 'thread'] as const)
      if (scope[k] !== undefined && (typeof scope[k] !== 'string' || scope[k] === ''))
        throw new InvalidRequestError(`forgetMemories: ${k} must be a non-empty string when given`);
    return this.temporal.workflow.execute('batonForgetMemories', {
      taskQueue: this.taskQueue,
      workflowId: `baton-forget-memories-${randomUUID()}`,
      args: [
        {
          namespace: scope.namespace,
          ...(scope.user && { user: scope.user }),
          ...(scope.thread && { thread: scope.thread }),
        },
      ],
    });
  }

  /** Wait for a run's result; throws RunFailedError naming the failed step when it failed. */
  async result(runId: string): Promise<RunResult> {
    try {
      return (await this.handle(runId).result()) as RunResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const cause = err.cause;
        if (cause instanceof ApplicationFailure) {
          const progress = cause.details?.[0] as RunProgress | undefined;
          throw new RunFailedError(runId, cause.type ?? 'Error', cause.message, progress);
        }
        throw new RunFailedError(runId, cause?.name ?? 'Error', cause?.message ?? err.message);
      }
      throw err;
    }
  }

  /** Every step's status, output, timing and usage, while the run goes on or after it ended. */
  async progress(runId: string): Promise<RunProgress> {
    const { progress, status, error } = await this.readProgress(runId);
    if (progress) return progress;
    // Nothing recorded it and no worker answered: say so instead of inventing steps.
    return {
      name: runId,
      status: 'failed',
      steps: [],
      usage: { ...ZERO_USAGE },
      costUsd: 0,
      error: { type: status, message: error },
    };
  }

  /** A query to a run, bounded by queryTimeoutMs: a run whose worker is gone fails it in that time. */
  private query<R, A extends unknown[]>(runId: string, def: QueryDefinition<R, A>, ...args: A): Promise<R> {
    return this.temporal.withDeadline(Date.now() + this.queryTimeoutMs, () =>
      this.handle(runId).query(def, ...args),
    );
  }

  /** Progress as recorded (result, failure details) or as a worker answers it; undefined when neither can. */
  private async readProgress(
    runId: string,
  ): Promise<{ progress?: RunProgress; status: string; error: string }> {
    const handle = this.handle(runId);
    const { status } = await handle.describe();
    // A running run answers its query; an ended one is read from history, so no worker is needed.
    if (status.name === 'RUNNING') {
      try {
        return { progress: await this.query(runId, progressQuery), status: status.name, error: '' };
      } catch (err) {
        // A running run answers through a worker; say which task queue needs one.
        const taskQueue = (await handle.describe()).taskQueue;
        throw new ProgressUnavailableError(
          `run ${runId} is running, but no worker answered its progress query within ${this.queryTimeoutMs / 1000} s ` +
            `(${(err as Error).message}); ` +
            `start a worker on task queue '${taskQueue}' (\`baton worker --task-queue ${taskQueue}\`)`,
        );
      }
    }
    try {
      return { progress: await this.result(runId), status: status.name, error: '' };
    } catch (err) {
      if (err instanceof RunFailedError && err.progress)
        return { progress: err.progress, status: status.name, error: err.message };
      // Cancelled or terminated runs carry no progress in their failure; a worker can still replay it.
      const queried = await this.query(runId, progressQuery).catch(() => undefined);
      const message = `run ${status.name.toLowerCase()}`;
      if (queried)
        return {
          progress: { ...queried, status: 'failed', error: { type: status.name, message } },
          status: status.name,
          error: message,
        };
      return { status: status.name, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * What a retry or fork may reuse: completed steps with their whole outputs. Refuses rather than
   * guess: a run whose progress cannot be read, or a long output that only a worker can give whole.
   */
  private async reusable(
    runId: string,
    keep: (name: string) => boolean,
    parent: ResumeState['parent'],
    lineageBudget = false,
  ): Promise<ResumeState> {
    const { progress, status } = await this.readProgress(runId);
    if (!progress) {
      throw new InvalidRequestError(
        `the steps of run ${runId} (${status.toLowerCase()}) cannot be read: nothing recorded them and no worker answered. ` +
          'Start a worker on its task queue, then try again; otherwise every step would run, and be paid for, again.',
      );
    }
    const resume = reuseOf(progress, keep, parent);
    resume.lineageSpending = {
      spent: lineageSpentOf(progress),
      ...(lineageBudget && { countAgainstBudget: true }),
    };
    for (const s of resume.steps ?? []) {
      if (!s.truncated) continue;
      // Results keep a preview of long outputs; reuse needs the whole text.
      const whole = await this.stepOutput(runId, s.name).catch(() => undefined);
      if (whole === undefined) {
        throw new InvalidRequestError(
          `step '${s.name}' of run ${runId} has a ${s.truncated.chars}-character output that results keep only as a preview; ` +
            'start a worker on its task queue so it can be read whole, then try again.',
        );
      }
      resume.reuse[s.name] = whole;
      s.output = whole.slice(0, 2000);
    }
    return resume;
  }

  /** Recent runs, newest first: id, ensemble, Temporal status and start time. */
  async listRuns(opts: { limit?: number; status?: RunListing['status'] } = {}): Promise<RunListing[]> {
    const limit = opts.limit ?? 20;
    const status = opts.status ? ` AND ExecutionStatus = '${opts.status}'` : '';
    const rows: RunListing[] = [];
    for await (const w of this.listExecutions(`WorkflowType = '${RUN_WORKFLOW}'${status}`)) {
      if (rows.length >= limit) break;
      const startedBy = w.memo?.[STARTED_BY_MEMO];
      rows.push({
        runId: w.workflowId,
        ensemble: w.memoError === undefined ? await this.ensembleOf(w) : '',
        status: w.status.name,
        started: w.startTime.toISOString(),
        ...(typeof startedBy === 'string' && { startedBy }),
        ...(w.memoError !== undefined && { unreadable: w.memoError }),
      });
    }
    return rows;
  }

  /**
   * Visibility rows for `query`, as the SDK's `workflow.list` gives them, except that a row whose
   * memo this client cannot decode (a run encrypted with a key the client lacks, or by a codec it
   * does not have) does not end the listing: it comes without its memo, `memoError` saying why.
   */
  private async *listExecutions(
    query: string,
  ): AsyncGenerator<WorkflowExecutionInfo & { memoError?: string }> {
    const { namespace, loadedDataConverter } = this.temporal.options;
    let nextPageToken: Uint8Array | undefined;
    do {
      let page;
      try {
        page = await this.temporal.workflowService.listWorkflowExecutions({
          namespace,
          query,
          nextPageToken,
        });
      } catch (err) {
        throw new Error(`listing runs in namespace '${namespace}' failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      for (const raw of page.executions ?? []) {
        let row: WorkflowExecutionInfo & { memoError?: string };
        try {
          row = await executionInfoFromRaw(raw, loadedDataConverter, raw, namespace);
        } catch (err) {
          // The same row without its memo (a spread would drop the fields protobufjs keeps on the prototype).
          const bare = Object.assign(Object.create(raw) as typeof raw, { memo: null });
          row = {
            ...(await executionInfoFromRaw(bare, loadedDataConverter, raw, namespace)),
            memoError:
              `its memo cannot be decoded here (${(err as Error).message}); it was likely encrypted with a key ` +
              'this client does not have: set BATON_CODEC_KEYS as the workers have it',
          };
        }
        yield row;
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
  }

  /** The input a run was started with (definition, input, options), read from its history. */
  async runInput(runId: string): Promise<RunInput> {
    const history = await this.handle(runId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) throw new InvalidRequestError(`run ${runId} has no recorded input; is it a Baton run?`);
    // History holds payloads as stored: decrypt them (BATON_CODEC_KEYS) before converting.
    const [decoded] = await decodePayloads(this.temporal.options.loadedDataConverter, [payload]);
    return this.temporal.options.loadedDataConverter.payloadConverter.fromPayload(decoded!) as RunInput;
  }

  /**
   * Start a new run that finishes a failed one: every step that completed is reused (not run,
   * not paid for again); the failed step and everything not yet done run. Fix the cause first
   * (a key in the worker's environment, or pass a corrected `definition`).
   *
   * @example const { runId } = await baton.retry('order-42'); await baton.result(runId);
   */
  async retry(runId: string, opts: RetryOptions = {}): Promise<RunHandle> {
    const { status } = await this.handle(runId).describe();
    if (status.name === 'RUNNING')
      throw new InvalidRequestError(
        `run ${runId} is still running: wait for it to end, or cancel it, then retry`,
      );
    if (status.name === 'COMPLETED') {
      throw new InvalidRequestError(
        `run ${runId} completed, so there is nothing to retry; fork it from a step to run part of it again`,
      );
    }
    const original = await this.runInput(runId);
    const definition = opts.definition ?? original.definition;
    const names = new Set(definition.steps.map((s) => s.name));
    const resume = await this.reusable(
      runId,
      (n) => names.has(n),
      { runId, kind: 'retry' },
      opts.lineageBudget,
    );
    for (const [step, output] of Object.entries(opts.completed ?? {})) {
      if (!names.has(step))
        throw new InvalidRequestError(
          `cannot mark step '${step}' completed: run ${runId} has no top-level step of that name; its steps are: ${[...names].join(', ')}`,
        );
      resume.reuse[step] = output;
    }
    return this.start(definition, original.input, {
      runId: opts.runId ?? `${runId}-retry-${Date.now().toString(36)}`,
      resume,
      ...((opts.options ?? original.options) && { options: opts.options ?? original.options }),
    });
  }

  /**
   * Start a new run from any step of an earlier run, with changed input, prompt or model: steps
   * not downstream of `fromStep` are reused from the earlier run; `fromStep` and its dependents run.
   *
   * @example await baton.fork('order-42', { fromStep: 'draft', overrides: { profile: 'claude-sonnet' } });
   */
  async fork(runId: string, opts: ForkOptions): Promise<RunHandle> {
    const original = await this.runInput(runId);
    const definition: EnsembleDefinition = JSON.parse(JSON.stringify(opts.definition ?? original.definition));
    const index = definition.steps.findIndex((s) => s.name === opts.fromStep);
    if (index < 0) {
      throw new InvalidRequestError(
        `run ${runId} has no step '${opts.fromStep}'; its steps are: ${definition.steps.map((s) => s.name).join(', ')}`,
      );
    }
    const o = opts.overrides ?? {};
    if (o.prompt !== undefined || o.system !== undefined || o.profile !== undefined) {
      const step = definition.steps[index]!;
      if (step.kind !== 'agent')
        throw new InvalidRequestError(
          `step '${opts.fromStep}' is a ${step.kind} step; only agent steps take prompt, system or profile overrides`,
        );
      if (o.prompt !== undefined) step.prompt = o.prompt;
      if (o.system !== undefined) step.system = o.system;
      if (o.profile !== undefined)
        step.profile = typeof o.profile === 'string' ? resolveProfile(o.profile, {}, `--profile`) : o.profile;
    }
    const rerun = downstreamOf(definition, opts.fromStep).add(opts.fromStep);
    const resume = await this.reusable(
      runId,
      (n) => !rerun.has(n),
      { runId, kind: 'fork', fromStep: opts.fromStep },
      opts.lineageBudget,
    );
    return this.start(definition, opts.input ?? original.input, {
      runId: opts.runId ?? `${runId}-fork-${Date.now().toString(36)}`,
      resume,
      ...((opts.options ?? original.options) && { options: opts.options ?? original.options }),
    });
  }

  /**
   * One step's whole output. Progress and results cut very long outputs to a preview (marked
   * `truncated`) so they fit in one Temporal payload; this reads the full text (for an ended run,
   * a worker must be running to answer).
   */
  async stepOutput(runId: string, step: string): Promise<string | undefined> {
    // Not bounded by queryTimeoutMs: for an ended run a worker replays its whole history to answer.
    return (await this.handle(runId).query(stepOutputQuery, step)) ?? undefined;
  }

  /**
   * A run's events as they happen (docs/streaming.md): its model calls' text and tool-call deltas
   * and step events, its gates waiting and decided, and its end. Ends after `run.completed`,
   * `run.failed` or `run.cancelled`, or when `signal` aborts. `after` is the `id` of the last event
   * you saw: the stream goes on right after it, nothing missed or repeated (a gate still waiting is
   * announced again). Throws InvalidCursorError for an `after` this transport never gave out.
   *
   * @example
   * for await (const ev of baton.events(runId)) if (ev.type === 'text.delta') process.stdout.write(ev.text!);
   */
  events(
    runId: string,
    opts: { after?: string; signal?: AbortSignal; pollMs?: number } = {},
  ): AsyncGenerator<StreamEvent> {
    const handle = this.handle(runId);
    // One signal for this follower: the caller's, or close(). Its Temporal calls run under it, so
    // stopping cancels a state read in flight instead of leaving it to outlive the connection.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) stop.abort();
    const scoped = <T>(fn: () => Promise<T>) => this.temporal.connection.withAbortSignal(stop.signal, fn);
    const following = this.following;
    following.add(stop);
    const inner = followRun({
      bus: this.eventBus,
      runId,
      ...(opts.after !== undefined && { after: opts.after }),
      signal: stop.signal,
      ...(opts.pollMs !== undefined && { pollMs: opts.pollMs }),
      watch: async () => {
        // A reader may come before the run starts: it waits for it.
        const described = await scoped(() => handle.describe()).catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return undefined;
          throw err;
        });
        if (!described) return { status: 'RUNNING', pending: [] };
        const { status, memo } = described;
        const listed = memo?.[PENDING_APPROVALS_MEMO];
        return {
          status: status.name,
          pending: Array.isArray(listed) ? (listed as PendingApprovalSummary[]) : [],
        };
      },
      details: async () => {
        const p = await scoped(() => this.progress(runId));
        return {
          ...(p.output !== undefined && { output: p.output }),
          ...(p.error && { error: { type: p.error.type, message: p.error.message } }),
          ...(p.decisions && { decisions: p.decisions }),
        };
      },
    });
    return (async function* () {
      try {
        yield* inner;
      } catch (err) {
        // A read cut short by stopping is the end of the stream, not an error.
        if (!stop.signal.aborted) throw err;
      } finally {
        following.delete(stop);
        opts.signal?.removeEventListener('abort', onAbort);
      }
    })();
  }

  /** Ask a run to stop; running model calls are cancelled. */
  async cancel(runId: string): Promise<void> {
    await this.handle(runId).cancel();
  }

  /**
   * Approve a waiting gate, optionally with edits; returns the recorded decision at once.
   * Throws ApprovalRefusedError (nothing recorded) for an unknown or already decided gate, or
   * when `gate` is left out and more than one gate waits (the message lists them).
   *
   * @example await baton.approve('order-42', { by: 'alice', comment: 'looks right' });
   */
  async approve(runId: string, opts: ApproveOptions): Promise<ApprovalDecision> {
    return this.decide(runId, { ...opts, outcome: 'approved' });
  }

  /** Reject a waiting gate; the step fails with `ApprovalRejected` (a tool gate: the agent is told). */
  async reject(runId: string, opts: DecideOptions): Promise<ApprovalDecision> {
    return this.decide(runId, { ...opts, outcome: 'rejected' });
  }

  /**
   * Send a decision as an Update: the run validates it and answers with the recorded decision.
   *
   * Pass the `digest` of the gate as you showed it to the person (PendingApproval.digest, from
   * {@link pendingApprovals} or {@link listPendingApprovals}): if the gate now shows something
   * else the decision is refused (ApprovalRefusedError, reason `stale`). Without a digest the
   * client assumes you showed nothing, so the decision binds to what the gate shows when it
   * arrives: it is sent as is, which the run accepts while exactly one gate waits (recording the
   * digest of what that gate shows); while several wait the run asks for a digest, and the client
   * reads the named gate's current one and sends the decision again with it. A parked run's usual
   * decision is one round trip, with no read before it.
   */
  async decide(runId: string, decision: DecisionInput): Promise<ApprovalDecision> {
    const decidedAt = decision.decidedAt ?? new Date().toISOString();
    const send = (digest: string | undefined) =>
      this.handle(runId).executeUpdate(decideUpdate, {
        args: [{ ...decision, ...(digest !== undefined && { digest }), decidedAt }],
      });
    try {
      if (decision.digest !== undefined) return await send(decision.digest);
      try {
        return await send(undefined);
      } catch (err) {
        // Several gates wait, so the run wants the digest the decision is about (refused as
        // invalid, nothing written): read the named gate's current one and send it with that.
        if (refusal(runId, err)?.reason !== 'invalid') throw err;
        const digest = await this.currentDigest(runId, decision.gate);
        if (digest === undefined) throw err;
        return await send(digest);
      }
    } catch (err) {
      let refused = refusal(runId, err);
      // The server answers "not found" for an ended run too, in wording that varies: ask whether it exists.
      if (
        refused?.reason === 'run-not-found' &&
        (await this.handle(runId)
          .describe()
          .then(
            () => true,
            () => false,
          ))
      ) {
        refused = new ApprovalRefusedError(
          runId,
          'run-ended',
          'the run has ended; nothing waits for a decision',
        );
      }
      if (refused?.reason === 'run-ended') throw (await this.decidedBefore(runId, decision.gate)) ?? refused;
      throw refused ?? err;
    }
  }

  /** The digest a gate shows now (the named one, or the only waiting one), if it can be read. */
  private async currentDigest(runId: string, gate: string | undefined): Promise<string | undefined> {
    // The run's memo lists its waiting gates with their digests while few wait: read from the
    // server, it needs no worker to load the run (a parked run is usually out of the worker's cache).
    const memo = (
      await this.handle(runId)
        .describe()
        .catch(() => undefined)
    )?.memo;
    const listed = memo?.[PENDING_APPROVALS_MEMO];
    if (
      Array.isArray(listed) &&
      listed.length > 0 &&
      memo?.[PENDING_APPROVAL_COUNT_MEMO] === listed.length &&
      (listed as { digest?: unknown }[]).every((p) => typeof p.digest === 'string')
    ) {
      const hit = decisionTarget(listed as { gate: string; digest: string }[], gate);
      if (hit) return hit.digest;
    }
    // Many gates, or a run that lists them without digests (started before they were listed): ask it.
    const pending = await this.query(runId, pendingApprovalsQuery).catch(() => undefined);
    if (!pending) return undefined;
    return decisionTarget(pending, gate)?.digest;
  }

  /** For a decision sent to a run that has ended: the decision the gate already got, if any. */
  private async decidedBefore(
    runId: string,
    gate: string | undefined,
  ): Promise<ApprovalRefusedError | undefined> {
    try {
      const decisions = (await this.progress(runId)).decisions ?? [];
      const earlier =
        gate === undefined
          ? decisions.length === 1
            ? decisions[0]
            : undefined
          : decisions.find((d) => d.gate === gate);
      if (!earlier) return undefined;
      if (earlier.outcome === 'released') {
        return new ApprovalRefusedError(
          runId,
          'run-failed',
          `gate '${earlier.gate}' was ${earlier.comment ?? 'released without a decision'} (the run has failed; nothing can be decided)`,
        );
      }
      return new ApprovalRefusedError(
        runId,
        'already-decided',
        `gate '${earlier.gate}' was already decided: ${earlier.outcome} by ${earlier.by} at ${earlier.decidedAt} (the run has ended)`,
      );
    } catch {
      return undefined; // no worker to answer the query: the plain "run has ended" stands
    }
  }

  /** The gates of one run waiting for a decision, with the full draft or tool call. */
  async pendingApprovals(runId: string): Promise<PendingApproval[]> {
    try {
      return await this.query(runId, pendingApprovalsQuery);
    } catch (err) {
      throw refusal(runId, err) ?? err;
    }
  }

  /**
   * Every gate waiting for a decision across running runs, oldest first, with its digest. Finds
   * runs by the BatonPendingApprovals search attribute where it is registered (and, beside them,
   * runs started without Baton's search attributes, e.g. by `temporal workflow start`), else by
   * workflow type. A run's memo lists its gates while a few wait; with more, the full list is
   * read from the run's pendingApprovals query (a worker answers it within queryTimeoutMs, else
   * the memo's list stands). A run whose memo this client cannot decode (encrypted with a key it
   * lacks) is left out. Visibility is eventually consistent: a gate decided a moment ago may still
   * be listed.
   */
  async listPendingApprovals(): Promise<PendingApprovalListing[]> {
    const query = await this.waitingRunsQuery();
    const runs: (() => Promise<PendingApprovalListing[]>)[] = [];
    for await (const wf of this.listExecutions(query)) {
      // Its gates cannot be read here (encrypted with a key this client lacks): leave it out.
      if (wf.memoError !== undefined) continue;
      const memo = wf.memo ?? {};
      const listed = Array.isArray(memo[PENDING_APPROVALS_MEMO])
        ? (memo[PENDING_APPROVALS_MEMO] as PendingApprovalSummary[])
        : [];
      const count =
        typeof memo[PENDING_APPROVAL_COUNT_MEMO] === 'number' ? memo[PENDING_APPROVAL_COUNT_MEMO] : 0;
      const attr = wf.typedSearchAttributes?.get(SEARCH_ATTRIBUTES.pendingApprovals) ?? [];
      if (listed.length === 0 && count === 0 && attr.length === 0) continue;
      runs.push(async () => {
        let gates: PendingApprovalSummary[] = listed;
        if (count > listed.length || attr.length > listed.length) {
          // More gates wait than the memo lists: the run's query has them all (if its worker
          // answers within queryTimeoutMs; otherwise the memo's list stands).
          const all = await this.query(wf.workflowId, pendingApprovalsQuery).catch(() => undefined);
          if (all) gates = all.map(({ draft: _d, tool: _t, ...rest }) => rest);
        }
        if (gates.length === 0) return [];
        const ensemble = await this.ensembleOf(wf);
        return gates.map((g) => ({ runId: wf.workflowId, ...(ensemble && { ensemble }), ...g }));
      });
    }
    // The runs' reads go eight at a time: a run whose worker is gone holds one lane for at most
    // queryTimeoutMs while the others go on.
    const out = (await pool(runs, 8, (read) => read())).flat();
    return out.sort((a, b) => a.since.localeCompare(b.since) || a.runId.localeCompare(b.runId));
  }

  /**
   * How many gates wait for a decision across running runs, and in how many runs: from the runs'
   * memos (the count each run keeps), without querying any run. Behind the `baton_gates_waiting`
   * gauge. With `taskQueue`, only runs on that task queue. Visibility is eventually consistent: a
   * gate decided a moment ago may still count.
   */
  async countPendingApprovals(opts: { taskQueue?: string } = {}): Promise<{ runs: number; gates: number }> {
    const all = await this.waitingRunsQuery();
    const query =
      opts.taskQueue === undefined
        ? all
        : `TaskQueue = '${opts.taskQueue.replace(/'/g, "\\'")}' AND (${all})`;
    let runs = 0;
    let gates = 0;
    for await (const wf of this.listExecutions(query)) {
      const memo = wf.memo ?? {};
      const listed = Array.isArray(memo[PENDING_APPROVALS_MEMO]) ? memo[PENDING_APPROVALS_MEMO].length : 0;
      const count =
        typeof memo[PENDING_APPROVAL_COUNT_MEMO] === 'number' ? memo[PENDING_APPROVAL_COUNT_MEMO] : 0;
      // A run whose memo this client cannot decode still counts by its search attribute.
      const attr = wf.typedSearchAttributes?.get(SEARCH_ATTRIBUTES.pendingApprovals) ?? [];
      const n = Math.max(count, listed, attr.length);
      if (n === 0) continue;
      runs += 1;
      gates += n;
    }
    return { runs, gates };
  }

  /** The visibility query for running runs that may have gates waiting. */
  private async waitingRunsQuery(): Promise<string> {
    const types = `WorkflowType IN ('${RUN_WORKFLOW}', 'batonSubAgent')`;
    return (await this.searchAttributesAvailable())
      ? `ExecutionStatus = 'Running' AND (${SEARCH_ATTRIBUTES.pendingApprovals.name} IS NOT NULL OR ` +
          `(${types} AND ${SEARCH_ATTRIBUTES.ensemble.name} IS NULL))`
      : // Runs, and the supervisor's sub-agents (child workflows that can hold tool gates too).
        `${types} AND ExecutionStatus = 'Running'`;
  }

  /**
   * The ensemble a run runs: from its memo (Baton's client writes it at start), else from the
   * definition in its first history event (a run started by other means, e.g. `temporal workflow
   * start`); '' when neither says.
   */
  private async ensembleOf(wf: WorkflowExecutionInfo): Promise<string> {
    const memo = wf.memo?.ensemble;
    if (typeof memo === 'string') return memo;
    if (wf.type !== RUN_WORKFLOW) return '';
    try {
      const { history } = await this.temporal.workflowService.getWorkflowExecutionHistory({
        namespace: this.temporal.options.namespace,
        execution: { workflowId: wf.workflowId, runId: wf.runId },
        maximumPageSize: 1,
      });
      const payload = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      if (!payload) return '';
      // History holds payloads as stored: decrypt them (BATON_CODEC_KEYS) before converting.
      const converter = this.temporal.options.loadedDataConverter;
      const [decoded] = await decodePayloads(converter, [payload]);
      const input = converter.payloadConverter.fromPayload(decoded!) as Partial<RunInput> | undefined;
      const name = input?.definition?.name;
      return typeof name === 'string' ? name : '';
    } catch {
      return '';
    }
  }

  /** Whether Baton's search attributes are registered in this namespace (checked once, then remembered). */
  async searchAttributesAvailable(): Promise<boolean> {
    this.searchAttributesReady ??= this.temporal.connection.operatorService
      .listSearchAttributes({ namespace: this.temporal.options.namespace })
      .then(
        ({ customAttributes }) =>
          Object.values(SEARCH_ATTRIBUTES).every((key) => customAttributes?.[key.name] !== undefined),
        // Some API keys may not read the namespace's attributes: run without them rather than fail.
        () => false,
      );
    return this.searchAttributesReady;
  }

  /** The underlying Temporal handle, for what this client does not wrap. */
  handle(runId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(runId);
  }

  /** End open {@link events} streams and close the connection this client opened (a connection passed in is left open). */
  async close(): Promise<void> {
    // Open event streams end (their readers see the stream finish) before the connection goes.
    for (const stop of this.following) stop.abort();
    await this.tracing?.forceFlush().catch(() => undefined);
    await this.ownedConnection?.close();
  }
}

/** Turn an Update's refusal, or a missing or ended run, into an ApprovalRefusedError. */
function refusal(runId: string, err: unknown): ApprovalRefusedError | undefined {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const reason = REFUSAL_BY_TYPE[err.cause.type ?? ''];
    if (reason) return new ApprovalRefusedError(runId, reason, err.cause.message);
  }
  if (err instanceof WorkflowNotFoundError) {
    // The server says "not found" both for an unknown id and for a run that has ended.
    return /completed|closed|finished/i.test(err.message)
      ? new ApprovalRefusedError(runId, 'run-ended', 'the run has ended; nothing waits for a decision')
      : new ApprovalRefusedError(runId, 'run-not-found', 'no such run');
  }
  return undefined;
}

/**
 * The waiting gate a decision is about: the named one, or, with no name, the only one waiting
 * (undefined when none, or several, wait). What the CLI shows and the digest it sends come from it.
 */
export function decisionTarget<T extends { gate: string }>(
  pending: T[],
  gate: string | undefined,
): T | undefined {
  if (gate !== undefined) return pending.find((p) => p.gate === gate);
  return pending.length === 1 ? pending[0] : undefined;
}
