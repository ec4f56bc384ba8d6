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
  setHandler(decideUpdate, (input) => state.decide(input, 'update', workflowNow()), {
    // Runs before the update is accepted: throwing refuses it and writes nothing to history.
    validator: (input) => void state.checkDecision(input),
    description:
      'Decide an approval gate: {gate?, outcome: "approved"|"rejected", by, comment?, editedDraft?, editedArguments?}',
  });
  setHandler(
    decideSignal,
    (input) => {
      try {
        const d = state.decide(input, 'signal', workflowNow());
        log.info(`gate '${d.gate}' ${d.outcome} by ${d.by} (signal)`);
      } catch (err) {
        // A signal cannot be refused; say why it was ignored and keep the run as it was.
        log.warn(`ignored a '${decideSignal.name}' signal: ${(err as Error).message}`, { input });
      }
    },
    { description: 'Decide an approval gate, fire-and-forget; same payload as the decide update' },
  );
  setHandler(pendingApprovalsQuery, () => state.pendingApprovals(), {
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

  const gate = state.gateId(req.gate);
  const opened = workflowTime();
  state.openGate({
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
    state.updateGate(gate, { escalated: true, deadline: until });
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
    state.closeGate(gate);
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
  const draft = renderTemplate(step.present, scope);
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
  await condition(() => state.decisionFor(gate) !== undefined, ms, { summary });
  // A decision that arrived in the same workflow task as the timer still wins.
  return state.decisionFor(gate);
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
  return state.recordDecision({
    gate,
    step,
    outcome,
    by: 'deadline',
    comment,
    decidedAt: workflowNow(),
    timedOut: true,
    ...(escalated && { escalated: true }),
    via: 'timeout',
  });
}

/**
 * Make the waiting gates findable from outside: the memo always (it needs no registration), the
 * `BatonPendingApprovals` search attribute only when the run was started with `BatonEnsemble`
 * set. The client sets that only after checking Baton's attributes are registered in the
 * namespace; upserting an unregistered attribute would fail every workflow task of the run.
 */
function publish(state: RunState): void {
  const pending = state.pendingApprovals();
  const summaries: PendingApprovalSummary[] = pending.map(({ draft: _d, tool: _t, ...rest }) => rest);
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
