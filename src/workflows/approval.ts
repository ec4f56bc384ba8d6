/**
 * Approval gates: a run waits for a person's decision, durably (a `condition` with a timer, so
 * the wait survives worker restarts and lasts as long as it must), and records who decided what,
 * when and why. Decisions arrive as an Update (answered at once, refused by a validator when the
 * gate is unknown or already decided) or as a Signal (fire-and-forget, logged and ignored when
 * it does not fit). Every gate has a deadline with a stated outcome.
 */
import { msToNumber } from '@temporalio/common/lib/time';
import {
  ApplicationFailure,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createNotifyActivities } from '../activities/notify';
import type { ApprovalStep, Duration } from '../types';
import {
  APPROVAL_REJECTED,
  PENDING_APPROVALS_MEMO,
  PENDING_APPROVALS_MEMO_MAX,
  PENDING_APPROVAL_COUNT_MEMO,
  RUN_STOPPED,
  SEARCH_ATTRIBUTES,
  decideSignal,
  decideUpdate,
  pendingApprovalsQuery,
  type ApprovalDecision,
  type ApprovalRequest,
  type PendingApprovalSummary,
  type TimeoutOutcome,
} from './api';
import type { RunState } from './run-state';
import { renderTemplate, type TemplateScope } from './template';

/** Deadline of a gate whose request names none (tool gates, usually). */
export const DEFAULT_APPROVAL_DEADLINE = '24 hours';
/** Longest summary kept for lists and the memo. */
const SUMMARY_CHARS = 200;

const notify = proxyActivities<ReturnType<typeof createNotifyActivities>>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
  },
});

/**
 * Install the decision Update, the decision Signal and the pending-approvals query on a run.
 * Call once, before the run's first `await`, so no decision can arrive before its handler.
 */
export function installApprovalHandlers(state: RunState): void {
  setHandler(decideUpdate, (input) => state.gates.decide(input, 'update', workflowNow()), {
    // Runs before the update is accepted: throwing refuses it and writes nothing to history.
    validator: (input) => void state.gates.check(input),
    description:
      'Decide an approval gate: {gate?, digest?, outcome: "approved"|"rejected", by, comment?, editedDraft?, editedArguments?}',
  });
  setHandler(
    decideSignal,
    (input) => {
      try {
        const d = state.gates.decide(input, 'signal', workflowNow());
        log.info(`gate '${d.gate}' ${d.outcome} by ${d.by} (signal)`);
      } catch (err) {
        // A signal cannot be refused; say why it was ignored and keep the run as it was.
        log.warn(`ignored a '${decideSignal.name}' signal: ${(err as Error).message}`, { input });
      }
    },
    { description: 'Decide an approval gate, fire-and-forget; same payload as the decide update' },
  );
  setHandler(pendingApprovalsQuery, () => state.gates.pending(), {
    description: 'Gates waiting for a decision',
  });
}

/**
 * Open an approval gate and wait for its decision: a person's (by Update or Signal), or the
 * deadline's. Shows the gate in progress, the memo and the `BatonPendingApprovals` search
 * attribute while it waits. Never throws for a rejection: look at `outcome`.
 *
 * Defaults: `deadline` 24 hours, `onTimeout` 'reject'; with 'escalate', the notification
 * activity runs when the deadline passes, then the gate waits `escalationDeadline` (default:
 * `deadline` again) and rejects if still nobody decided. The gate id you pass is made unique
 * within the run (`id#2` the second time), and the decision's `gate` says which id it got.
 *
 * @example
 * // In a ReAct agent, before running a tool that requires approval:
 * const d = await requestApproval(state, {
 *   gate: `${stepKey}:${call.name}:${call.id}`,
 *   step: stepKey,
 *   kind: 'tool',
 *   summary: `${call.name}(${JSON.stringify(call.arguments)})`,
 *   tool: { name: call.name, arguments: call.arguments },
 * });
 * if (d.outcome === 'rejected') toolResult = `Not run: rejected by ${d.by}${d.comment ? `: ${d.comment}` : ''}`;
 * else toolResult = await runTool(call.name, d.editedArguments ?? call.arguments);
 */
export async function requestApproval(state: RunState, req: ApprovalRequest): Promise<ApprovalDecision> {
  const onTimeout: TimeoutOutcome = req.onTimeout ?? 'reject';
  const deadline = req.deadline ?? DEFAULT_APPROVAL_DEADLINE;
  const firstMs = durationMs(deadline, `step '${req.step}': deadline`);
  const secondWait = req.escalationDeadline ?? deadline;
  const secondMs =
    onTimeout === 'escalate' ? durationMs(secondWait, `step '${req.step}': escalation deadline`) : 0;

  // A failed run opens no new gate (this throws RunStopped).
  state.gates.assertRunning(`gate '${req.gate}' did not open`);
  const gate = state.gates.id(req.gate);
  const opened = workflowTime();
  state.gates.open({
    gate,
    step: req.step,
    kind: req.kind,
    summary: shorten(req.summary),
    ...(req.draft !== undefined && { draft: req.draft }),
    ...(req.tool && { tool: req.tool }),
    ...(req.budget && { budget: req.budget }),
    since: opened.toISOString(),
    deadline: new Date(opened.getTime() + firstMs).toISOString(),
    onTimeout,
  });
  publish(state);
  try {
    let decision = await waitForDecision(state, gate, firstMs, `approval deadline of '${gate}'`);
    if (decision) return decision;
    state.gates.assertRunning(`gate '${gate}' did not time out`);
    const waited = `no decision within ${describeDuration(deadline)}`;
    if (onTimeout !== 'escalate') {
      return timeoutDecision(
        state,
        gate,
        req.step,
        onTimeout === 'approve' ? 'approved' : 'rejected',
        `${waited}; on_timeout: ${onTimeout}`,
      );
    }

    const until = new Date(workflowTime().getTime() + secondMs).toISOString();
    state.gates.update(gate, { escalated: true, deadline: until });
    publish(state);
    const reason = `${waited}; waiting ${describeDuration(secondWait)} more, then it rejects`;
    try {
      await notify.notifyApprovalEscalated({
        runId: workflowInfo().workflowId,
        gate,
        step: req.step,
        summary: shorten(req.summary),
        reason,
        deadline: until,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A failed notification must not decide the gate: keep waiting, and say so in the log.
      log.warn(`gate '${gate}': the escalation notification failed: ${(err as Error).message}`);
    }
    // The notification may have taken a while (retries): wait out what is left of the stated deadline.
    const left = Math.max(1, Date.parse(until) - workflowTime().getTime());
    decision = await waitForDecision(state, gate, left, `escalation deadline of '${gate}'`);
    return (
      decision ??
      timeoutDecision(
        state,
        gate,
        req.step,
        'rejected',
        `${waited}, nor within ${describeDuration(secondWait)} after escalating`,
        true,
      )
    );
  } finally {
    // Decided, timed out or cancelled: the gate stops showing as pending.
    state.gates.close(gate);
    publish(state);
  }
}

/**
 * Run an approval step of an ensemble: show the rendered `present` template and wait. Returns
 * the approved draft (the edited one, if the person edited it) as the step's output; a rejection
 * fails the step with a non-retryable `ApprovalRejected` failure naming who rejected and why.
 */
export async function runApprovalStep(
  state: RunState,
  key: string,
  step: ApprovalStep,
  scope: TemplateScope,
): Promise<string> {
  const draft = approvalDraft(step, scope);
  state.setStatus(key, 'waiting');
  const d = await requestApproval(state, {
    gate: key,
    step: key,
    kind: 'draft',
    summary: draft,
    draft,
    deadline: step.deadline,
    onTimeout: step.onTimeout,
    ...(step.escalationDeadline !== undefined && { escalationDeadline: step.escalationDeadline }),
  });
  state.setStatus(key, 'running');
  if (d.outcome === 'approved') return d.editedDraft ?? draft;
  throw ApplicationFailure.create({
    type: APPROVAL_REJECTED,
    nonRetryable: true,
    message: rejectionMessage(d),
    details: [d],
  });
}

/** What an approval step shows: its `present` template, rendered. */
export function approvalDraft(step: Pick<ApprovalStep, 'present'>, scope: TemplateScope): string {
  return renderTemplate(step.present, scope);
}

/** `rejected by alice: too risky`, or `rejected by its deadline: no decision within 2h; on_timeout: reject`. */
export function rejectionMessage(d: Pick<ApprovalDecision, 'by' | 'comment' | 'timedOut'>): string {
  const who = d.timedOut ? 'its deadline' : d.by;
  return `rejected by ${who}${d.comment ? `: ${d.comment}` : ''}`;
}

/** One line of at most 200 characters. */
export function shorten(text: string, max = SUMMARY_CHARS): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Milliseconds of a duration, or a non-retryable failure naming the field. */
export function durationMs(d: Duration, what: string): number {
  let ms: number;
  try {
    ms = msToNumber(d as Parameters<typeof msToNumber>[0]);
  } catch {
    ms = NaN;
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw ApplicationFailure.create({
      type: 'InvalidDefinition',
      nonRetryable: true,
      message: `${what} ${JSON.stringify(d)} is not a positive duration (write e.g. '30s', '2h', '3 days')`,
    });
  }
  return ms;
}

function describeDuration(d: Duration): string {
  return typeof d === 'number' ? `${d} ms` : d;
}

async function waitForDecision(
  state: RunState,
  gate: string,
  ms: number,
  summary: string,
): Promise<ApprovalDecision | undefined> {
  await condition(() => state.gates.decisionFor(gate) !== undefined, ms, { summary });
  // A decision that arrived in the same workflow task as the timer still wins.
  const d = state.gates.decisionFor(gate);
  if (d?.outcome === 'released') {
    // The run failed while the gate waited: what it guarded must not happen.
    throw ApplicationFailure.create({
      type: RUN_STOPPED,
      nonRetryable: true,
      message: `gate '${gate}' ${d.comment ?? 'was released without a decision'}`,
    });
  }
  return d;
}

function timeoutDecision(
  state: RunState,
  gate: string,
  step: string,
  outcome: ApprovalDecision['outcome'],
  comment: string,
  escalated = false,
): ApprovalDecision {
  log.info(`gate '${gate}' ${outcome} by its deadline: ${comment}`);
  const digest = state.gates.get(gate)?.digest;
  return state.gates.record({
    gate,
    step,
    outcome,
    by: 'deadline',
    comment,
    decidedAt: workflowNow(),
    timedOut: true,
    ...(escalated && { escalated: true }),
    ...(digest !== undefined && { digest }),
    via: 'timeout',
  });
}

/** The gate ids last written to BatonPendingApprovals, per run (upsert only when they change). */
const publishedIds = new WeakMap<RunState, string>();

/**
 * Make the waiting gates findable from outside: the memo always (it needs no registration), the
 * `BatonPendingApprovals` search attribute only when the run was started with `BatonEnsemble`
 * set. The client sets that only after checking Baton's attributes are registered in the
 * namespace; upserting an unregistered attribute would fail every workflow task of the run.
 *
 * What is written stays bounded, so history grows linearly with the number of gates: the memo
 * holds the count and, while at most PENDING_APPROVALS_MEMO_MAX gates wait, their summaries
 * (plus the ensemble name when the run was started without it); the search attribute holds the
 * ids of the oldest PENDING_APPROVALS_MEMO_MAX waiting gates and is written only when they
 * change. The full list is the pendingApprovals query's. Runs that published the whole list
 * before this change keep doing so on replay (patched).
 */
function publish(state: RunState): void {
  if (!patched('baton-bounded-pending-approvals')) return publishWholeList(state);
  const n = state.gates.size;
  const summaries =
    n > 0 && n <= PENDING_APPROVALS_MEMO_MAX
      ? state.gates.pending().map(({ draft: _d, tool: _t, ...rest }) => rest)
      : null;
  const info = workflowInfo();
  upsertMemo({
    [PENDING_APPROVALS_MEMO]: summaries,
    [PENDING_APPROVAL_COUNT_MEMO]: n > 0 ? n : null,
    // Runs started without Baton's client (no memo) still show their ensemble in listings.
    ...(info.memo?.ensemble === undefined && n > 0 && { ensemble: state.name }),
  });
  if (info.typedSearchAttributes.get(SEARCH_ATTRIBUTES.ensemble) !== undefined) {
    const ids = state.gates.firstIds(PENDING_APPROVALS_MEMO_MAX);
    const key = JSON.stringify(ids);
    if (publishedIds.get(state) === key) return;
    publishedIds.set(state, key);
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.pendingApprovals, value: ids.length ? ids : null }]);
  }
}

/** How runs published their gates before the bounded form: every change, the whole list. */
function publishWholeList(state: RunState): void {
  const pending = state.gates.pending();
  const summaries: PendingApprovalSummary[] = pending.map(
    ({ draft: _d, tool: _t, digest: _g, ...rest }) => rest,
  );
  upsertMemo({ [PENDING_APPROVALS_MEMO]: summaries.length ? summaries : null });
  if (workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.ensemble) !== undefined) {
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.pendingApprovals, value: pending.length ? pending.map((p) => p.gate) : null },
    ]);
  }
}

/**
 * Workflow time: inside a workflow, `Date` is the SDK's deterministic clock (the time of the
 * current workflow task), the same on every replay.
 */
function workflowTime(): Date {
  return new Date();
}

function workflowNow(): string {
  return workflowTime().toISOString();
}
