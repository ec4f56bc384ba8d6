/**
 * Notifications for approval gates that escalate. (Filled in by the approvals work; this is
 * the wiring point.)
 */

/** Deliver a notification that a gate needs attention. */
export type Notifier = (n: { runId: string; gate: string; step: string; summary: string; reason: string }) => Promise<void>;

/** The notification activities. */
export function createNotifyActivities(_notifier?: Notifier) {
  return {};
}
