/**
 * The contract between callers and the run workflow: input, progress, result, and the queries
 * that read them. Safe to import from clients (it defines, it does not run workflow code).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  Budget,
  ChatMessage,
  ConversationRef,
  Duration,
  EnsembleDefinition,
  ModelResponse,
  Usage,
} from '../types';

/** The workflow type every Baton run executes. */
export const RUN_WORKFLOW = 'batonRun';

/** Knobs of one run that are not part of the ensemble itself. */
export interface RunOptions {
  /** How soon a model call on a dead worker is noticed and retried elsewhere (default 30s). */
  heartbeatTimeout?: Duration;
  /** Time one model call may take when neither step nor profile says (default 5 minutes). */
  defaultTimeout?: Duration;
  /**
   * Continue a long loop as a new run (same run id, fresh history) once history holds this many
   * events; default: when Temporal suggests it.
   */
  continueAsNewAfterEvents?: number;
  /**
   * Internal: the run whose event stream model calls publish to. Set by a run for its fan-out
   * shards (docs/scale.md), so their calls stream under the run's id; not for callers.
   */
  streamRunId?: string;
  /**
   * Run model calls as local activities: no server round trip per call (a few ms instead of
   * about 15 ms a step here, and wide fan-outs finish close to the model's own latency). The
   * trade-off: a local call's result is recorded when the workflow task completes, so if the
   * worker dies first, calls finished since the last completed workflow task run again (and are
   * paid for again), and a call cannot outlive its worker. Off by default; tool calls are
   * always regular activities.
   */
  localActivities?: boolean;
  /**
   * Zero-cost regression (`baton eval --replay`): model answers recorded by an earlier run, by the
   * digest of their request (modelRequestDigest). A model call whose request has an entry is
   * answered with it and no activity runs (no provider call, no cost); any other call goes to
   * the provider as usual. Set by the eval tooling, not by hand.
   */
  recordedAnswers?: Record<string, ModelResponse>;
  /** Long-term memory: the user and conversation thread this run's memories belong to (see docs/memory.md). */
  memory?: { user?: string; thread?: string };
}

/** Where a run came from: a retry or fork of another run, or its own continuation. */
export interface RunLineage {
  runId: string;
  kind: 'retry' | 'fork' | 'continue-as-new';
  /** For a fork: the step it runs from. */
  fromStep?: string;
}

/**
 * What a run starts from besides its definition: outputs of steps already completed (reused,
 * not run again) and, for a continuation, the spending and loop positions it carries on with.
 */
export interface ResumeState {
  /** Outputs of completed top-level steps, by name. */
  reuse: Record<string, string>;
  /** Those steps' progress as the earlier run recorded it (usage shown, not counted again). */
  steps?: StepProgress[];
  /** Spending of the same logical run so far (continue-as-new only). */
  carried?: {
    usage: Usage;
    costUsd: number;
    roles?: Record<string, RoleUsage>;
    decisions?: ApprovalDecision[];
    /** Tool calls made so far per step, so a continuation's idempotency keys go on from there. */
    toolCalls?: Record<string, number>;
    /** The ledger carried on: settled spending (failed billed attempts included) and limits raised at budget gates. */
    ledger?: { spent: Money; limit?: Budget; lineage?: Money; lineageCounted?: boolean };
  };
  /**
   * Digest of what each reused approval step showed when it was approved, by step name. A reused
   * approval step stands only when it would show the same now (same digest); otherwise its gate
   * opens again. Without an entry the gate opens again.
   */
  gates?: Record<string, string>;
  /**
   * Retry or fork: what the runs before this one spent (the parent's own spending plus its
   * lineage). Shown in progress as `budget.lineage`; with `countAgainstBudget` it counts against
   * this run's budget too (a lineage budget), so retrying does not reset the money already spent.
   */
  lineageSpending?: { spent: Money; countAgainstBudget?: boolean };
  /** Loops that pick up where they stopped: the next iteration and the last body output. */
  loops?: Record<string, { iteration: number; previous?: string }>;
  /** ReAct steps that pick up where they stopped (a continuation made mid-step), by step name. */
  react?: Record<string, ReactPosition>;
  parent?: RunLineage;
}

/** Where a ReAct step stood when its run continued as new: its conversation and its model calls. */
export interface ReactPosition {
  /** Model calls made so far (they count against `max_iterations`). */
  iterations: number;
  /** The conversation kept by reference: the stored part, if any. */
  earlier?: ConversationRef;
  /** Messages not stored yet (by reference), or the whole conversation (an agent with `memory`). */
  messages: ChatMessage[];
  byRef: boolean;
  /** Names of the latest tool calls (at most 3), for the max_iterations message. */
  lastTools: string[];
}

export interface RunInput {
  definition: EnsembleDefinition;
  input: string;
  options?: RunOptions;
  resume?: ResumeState;
  /**
   * Set by BatonClient, which checked the input against the definition schema before starting:
   * the run does not check it again. Input started otherwise (`temporal workflow start`) is checked
   * by the run, in a local activity.
   */
  checked?: true;
}

export type StepStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'waiting';

export interface StepProgress {
  name: string;
  kind: 'agent' | 'approval' | 'loop' | 'ensemble' | 'script';
  status: StepStatus;
  output?: string;
  error?: { type: string; message: string };
  /** Why a step did not run. */
  reason?: string;
  /** Epoch ms of the first model call's start and the last one's end. */
  startedAt?: number;
  endedAt?: number;
  /** Model calls made by this step (a tool-using agent or a fan-out makes several). */
  calls: number;
  /** Tool calls made by this step (a tool-using agent), when it made any. */
  toolCalls?: number;
  /** Attempts of the last call (1 when it succeeded at once). */
  attempts?: number;
  usage: Usage;
  costUsd: number;
  /** The model that answered the step's last call, as the provider named it. */
  model?: string;
  /** The profile that answered the step's last call (a fallback when the step's own profile failed). */
  profile?: string;
  /** Calls of this step that failed with one profile and went on to the next, in order. */
  fallbacks?: FallbackAttempt[];
  /** Taken from the parent run (retry or fork) instead of being run again. */
  reused?: boolean;
  /** Set when `output` is only a preview of a long output; read it whole with the stepOutput query. */
  truncated?: { chars: number };
  /**
   * A sharded fan-out (docs/scale.md): its shards (child workflows) and items, counted done when
   * their shard returns. Each shard's own progress query shows its calls as they happen.
   */
  shards?: { total: number; done: number; items: number; itemsDone: number };
}

/** A model call that failed with one profile and was handed to the next (`fallback_profiles`). */
export interface FallbackAttempt {
  profile: string;
  provider: string;
  model: string;
  /** The failure's type (ModelAuthError, ModelServerError, ...) and the provider's words. */
  error: { type: string; message: string };
  /** The profile tried next. */
  next: string;
}

export interface RunProgress {
  name: string;
  status: 'running' | 'completed' | 'failed';
  steps: StepProgress[];
  usage: Usage;
  costUsd: number;
  output?: string;
  error?: { step?: string; type: string; message: string };
  /** Model usage per role (planner, worker, solver; generator, evaluator...), when a pattern names roles. */
  roles?: Record<string, RoleUsage>;
  /** Gates waiting for a person now (present only while some are). */
  pendingApprovals?: PendingApproval[];
  /** Every decision taken on this run's gates, in order (present once there is one). */
  decisions?: ApprovalDecision[];
  /** The run this one was retried or forked from, or continued. */
  parent?: RunLineage;
  /**
   * The run's ledger: limits (raised at budget gates), settled spending (including failed attempts
   * the provider may have billed, and child runs), and what is reserved by calls in flight.
   */
  budget?: LedgerView;
}

/** What the model calls of one role cost: calls, tokens and dollars. */
export interface RoleUsage {
  calls: number;
  usage: Usage;
  costUsd: number;
}

export interface RunResult extends RunProgress {
  status: 'completed';
  output: string;
}

/** Every step's status, output, timing and usage while the run goes on (and after it ended). */
export const progressQuery = defineQuery<RunProgress>('progress');

/** One step's whole output, also when progress shows only a preview of it. */
export const stepOutputQuery = defineQuery<string | null, [string]>('stepOutput');

/** Failure type of a run that failed because a step did; its details carry the RunProgress. */
export const STEP_FAILED = 'StepFailed';
/** Failure type of a run stopped by its budget. */
export const BUDGET_EXCEEDED = 'BudgetExceeded';
/** Failure type of a step whose replies never matched its output schema, repairs included. */
export { STRUCTURED_OUTPUT_ERROR } from '../error-types';
/**
 * Failure type of work refused because its run has already failed: a gate released without a
 * decision, a model or tool call that was not started. Steps ended this way show as skipped.
 */
export const RUN_STOPPED = 'RunStopped';

// ---------------------------------------------------------------------------------------------
// Approval gates: what a waiting gate shows, what a decision says, and how callers deliver one.
// ---------------------------------------------------------------------------------------------

/** What a gate does when nobody decides in time: reject, approve, or notify someone and wait again. */
export type TimeoutOutcome = 'reject' | 'approve' | 'escalate';

/**
 * What a gate is about: `draft` (a text to approve or replace), `tool` (a tool call to approve,
 * edit or refuse), `budget` (more money: opened by the run's ledger when the next model call would
 * cross the budget), or another kind a module adds.
 */
export type GateKind = 'draft' | 'tool' | 'budget' | (string & {});
/** The kinds Baton itself opens. */
export type ApprovalKind = 'draft' | 'tool' | 'budget';

/** What a budget gate shows: the ledger when it opened and the worst case of the call that waits. */
export interface BudgetGateInfo extends LedgerView {
  needed: Money;
}

/** A tool call waiting for approval: the tool and the arguments the model chose. */
export interface ToolCallForApproval {
  name: string;
  arguments: Record<string, unknown>;
}

/**
 * What workflow code asks a person to decide (see `requestApproval` in src/workflows/approval.ts).
 * A `draft` gate shows a text that can be approved as is or replaced; a `tool` gate shows a tool
 * call whose arguments can be approved as is or replaced.
 */
export interface ApprovalRequest {
  /** Id of the gate, unique in the run (a repeat gets `#2`, `#3`...). Callers name gates with it. */
  gate: string;
  /** The step the gate belongs to. */
  step: string;
  kind: GateKind;
  /** One line for lists (`baton approvals`); the full draft or tool call is in progress. */
  summary: string;
  draft?: string;
  tool?: ToolCallForApproval;
  /** A budget gate: the ledger when it opened, and what the waiting call needs. */
  budget?: BudgetGateInfo;
  /** How long to wait before `onTimeout` applies (default 24 hours). */
  deadline?: Duration;
  /** Default `reject`: a gate nobody answered does not let work through. */
  onTimeout?: TimeoutOutcome;
  /** With `escalate`: how long to wait again after the notification (default: `deadline` again). */
  escalationDeadline?: Duration;
}

/** A gate waiting for a decision, as progress, the memo and `listPendingApprovals` show it. */
export interface PendingApproval {
  gate: string;
  step: string;
  kind: GateKind;
  summary: string;
  draft?: string;
  tool?: ToolCallForApproval;
  /**
   * `sha256:<hex>` of what the gate shows (the draft text; the tool call's name and arguments as
   * canonical JSON). A decision passes it back to say what it saw; one for a gate that now shows
   * something else is refused as `Stale`.
   */
  digest: string;
  budget?: BudgetGateInfo;
  /** When the gate opened (ISO 8601, workflow time). */
  since: string;
  /** When the current wait ends (ISO 8601); after an escalation, the end of the second wait. */
  deadline: string;
  onTimeout: TimeoutOutcome;
  /** The first deadline passed and the notification activity ran. */
  escalated?: boolean;
}

/** A pending gate as the run's memo holds it (no draft or arguments: memos stay small). */
export type PendingApprovalSummary = Omit<PendingApproval, 'draft' | 'tool' | 'digest'> & { digest?: string };

/**
 * A decision as a caller sends it, by Update or by Signal (same payload). `gate` may be left out
 * when exactly one gate is pending. `digest` is the digest of what the person was shown (the
 * gate's `digest` in pendingApprovals): a decision is refused as `Stale` when the gate now shows
 * something else, and may leave it out only while exactly one gate waits. Edits go with
 * `approved` only: `editedDraft` for a draft gate, `editedArguments` for a tool gate.
 */
export interface DecisionInput {
  gate?: string;
  /** `sha256:<hex>`, as the gate showed it. */
  digest?: string;
  /** `approve` and `reject` are accepted too, for people typing JSON in a terminal. */
  outcome: 'approved' | 'rejected' | 'approve' | 'reject';
  /** Who decided. */
  by: string;
  comment?: string;
  /** When the person decided (ISO 8601); the client sets it, otherwise workflow time is used. */
  decidedAt?: string;
  editedDraft?: string;
  editedArguments?: Record<string, unknown>;
  /** Approving a budget gate: the new total limits (only the ones given change). */
  budget?: { maxCostUsd?: number; maxTokens?: number };
}

/** A recorded decision: who, what, when and why. Kept in the run's result and history. */
export interface ApprovalDecision {
  gate: string;
  step: string;
  /** `released`: the run failed while the gate waited; nobody decided and nothing it guarded ran. */
  outcome: 'approved' | 'rejected' | 'released';
  /** Digest of what the gate showed (see PendingApproval.digest); absent in runs before digests. */
  digest?: string;
  /** A person's name, `deadline` when the gate's timeout decided, `run` when it was released. */
  by: string;
  comment?: string;
  /** ISO 8601. */
  decidedAt: string;
  editedDraft?: string;
  editedArguments?: Record<string, unknown>;
  /** A budget gate's approval: the new limits. */
  budget?: { maxCostUsd?: number; maxTokens?: number };
  /** Nobody decided in time; `onTimeout` did. */
  timedOut?: boolean;
  /** The gate escalated (notified someone) before this decision. */
  escalated?: boolean;
  /** How the decision arrived. */
  via: 'update' | 'signal' | 'timeout' | 'release';
}

/** Name of both the decision Update and the decision Signal. */
export const DECIDE = 'decide';

/**
 * Decide a gate and get the recorded decision back at once. The validator refuses an unknown or
 * already decided gate (and a malformed decision) before anything is written to history.
 */
export const decideUpdate = defineUpdate<ApprovalDecision, [DecisionInput]>(DECIDE);

/**
 * Decide a gate, fire-and-forget (`temporal workflow signal --name decide --input '{...}'`).
 * A signal cannot be refused: one for an unknown or decided gate is logged and ignored.
 */
export const decideSignal = defineSignal<[DecisionInput]>(DECIDE);

/** The gates waiting for a decision now. */
export const pendingApprovalsQuery = defineQuery<PendingApproval[]>('pendingApprovals');

/** Failure type of an approval step that was rejected (by a person or by its deadline). */
export const APPROVAL_REJECTED = 'ApprovalRejected';

/** Failure types of a refused decision (the Update's validator). */
export const DECISION_REFUSED = {
  unknownGate: 'UnknownGate',
  alreadyDecided: 'AlreadyDecided',
  gateRequired: 'GateRequired',
  invalid: 'InvalidDecision',
  /** The gate shows something else than the digest the decision names. */
  stale: 'Stale',
  /** The run has failed: its gates were released and none can be decided. */
  runFailed: 'RunFailed',
} as const;

/**
 * Memo key holding a short list of the pending gates (gate, step, kind, summary, since, deadline),
 * written only while at most PENDING_APPROVALS_MEMO_MAX gates wait (memos stay small; with more,
 * the full list comes from the pendingApprovals query).
 */
export const PENDING_APPROVALS_MEMO = 'pendingApprovals';
/** Memo key holding how many gates wait (absent when none). */
export const PENDING_APPROVAL_COUNT_MEMO = 'pendingApprovalCount';
/** Most gates listed in the memo and in the BatonPendingApprovals search attribute. */
export const PENDING_APPROVALS_MEMO_MAX = 5;

/**
 * Search attributes a run uses (registered by `baton server` and by `acquireTemporal`; see
 * src/server/search-attributes.ts). A run upserts them only when it was started with
 * `BatonEnsemble` set, which the client does only after checking they are all registered:
 * upserting an unregistered attribute would fail the run's workflow tasks.
 */
export const SEARCH_ATTRIBUTES = {
  ensemble: defineSearchAttributeKey('BatonEnsemble', SearchAttributeType.KEYWORD),
  pendingApprovals: defineSearchAttributeKey('BatonPendingApprovals', SearchAttributeType.KEYWORD_LIST),
} as const;

// ---------------------------------------------------------------------------------------------
// Money: what the run's ledger (src/workflows/ledger.ts) counts and shows.
// ---------------------------------------------------------------------------------------------

/** An amount on the ledger: tokens (input plus output) and US dollars. */
export interface Money {
  tokens: number;
  costUsd: number;
}

/** The limits of a budget that are set (tokens, dollars); the gate settings are not limits. */
export type Limits = Pick<Budget, 'maxCostUsd' | 'maxTokens'>;

/** The ledger as progress shows it. */
export interface LedgerView {
  /** The limits now (a budget gate's decision may have raised them); absent without a budget. */
  limit?: Limits;
  /** Settled spending of this run (and, when `lineageCounted`, of the runs before it). */
  spent: Money;
  /** Reserved by calls and child runs in flight. */
  reserved: Money;
  /** What the runs this one retries or forks (and their own parents) spent. */
  lineage?: Money;
  /** The lineage's spending counts against this run's limit (a lineage budget). */
  lineageCounted?: boolean;
}
