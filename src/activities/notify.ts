/**
 * Notifications for approval gates that escalate: when a gate's first deadline passes with
 * `onTimeout: escalate`, the run calls this activity, then waits a second period.
 */
import { Context } from '@temporalio/activity';

/** What an escalation says: which run and gate, what waits, why, and until when it waits now. */
export interface Escalation {
  runId: string;
  gate: string;
  step: string;
  summary: string;
  reason: string;
  /** When the second wait ends (ISO 8601); after it, the gate rejects. */
  deadline?: string;
}

/**
 * Deliver a notification that a gate needs attention (mail, chat, pager). Throw to have Temporal
 * retry it; the gate keeps waiting either way.
 *
 * @example createWorker({ connection, notifier: async (n) => { await postToSlack(`${n.runId}/${n.gate}: ${n.reason}`); } })
 */
export type Notifier = (n: Escalation) => Promise<void>;

/** The default notifier: a warning in the worker's log, with every field as structured data. */
const logNotifier: Notifier = async (n) => {
  Context.current().log.warn(`approval gate '${n.gate}' of run ${n.runId} escalated: ${n.reason}`, { ...n });
};

/** The notification activities. */
export function createNotifyActivities(notifier: Notifier = logNotifier) {
  return {
    /** Announce an escalated approval gate through the worker's notifier. */
    async notifyApprovalEscalated(n: Escalation): Promise<void> {
      await notifier(n);
    },
  };
}
