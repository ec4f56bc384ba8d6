/**
 * The approval gate registry of one run: which gates wait, what each shows (and its digest),
 * every decision taken, and whether the run still takes decisions at all. The one place that
 * decides "may this gate be decided?" (checkDecision); approval.ts opens gates and waits on them.
 * Deterministic code only: it runs inside the workflow.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import {
  DECISION_REFUSED,
  RUN_STOPPED,
  type ApprovalDecision,
  type DecisionInput,
  type PendingApproval,
} from './api';
import { gateDigest } from './digest';
import { checkBudgetDecision } from './ledger';

/** A decision checked against the waiting gates, before it is recorded. */
export type CheckedDecision = Omit<ApprovalDecision, 'decidedAt' | 'via'> & { decidedAt?: string };

/** A gate to open: the digest is computed from what it shows when not given. */
export type GateToOpen = Omit<PendingApproval, 'digest'> & { digest?: string };

export class GateRegistry {
  /** Gates waiting for a decision, by gate id, in the order they opened. */
  private readonly waiting = new Map<string, PendingApproval>();
  /** Every decision, in order; and by gate id. */
  private readonly log: ApprovalDecision[] = [];
  private readonly decided = new Map<string, ApprovalDecision>();
  /** How often each gate id was asked for (a gate in a loop opens once per iteration). */
  private readonly uses = new Map<string, number>();
  /** Why the run stopped taking decisions (it failed); unset while it runs. */
  private stoppedBecause?: string;

  /** Why the run stopped (it failed), or undefined while it still runs. */
  get stopped(): string | undefined {
    return this.stoppedBecause;
  }

  /** A gate id not used before in this run: `base`, then `base#2`, `base#3`... */
  id(base: string): string {
    const n = (this.uses.get(base) ?? 0) + 1;
    this.uses.set(base, n);
    const id = n === 1 ? base : `${base}#${n}`;
    // A caller could have asked for `x#2` itself; keep counting until the id is fresh.
    return this.waiting.has(id) || this.decided.has(id) ? this.id(base) : id;
  }

  /**
   * Show a gate as waiting (progress, query, memo), with the digest of what it shows. Refuses
   * (throws RunStopped) once the run has stopped: no new gate opens on a failed run.
   */
  open(p: GateToOpen): PendingApproval {
    this.assertRunning(`gate '${p.gate}' was not opened`);
    const gate: PendingApproval = { ...p, digest: p.digest ?? gateDigest(p) };
    this.waiting.set(gate.gate, gate);
    return copyPending(gate);
  }

  /** Change when a waiting gate's wait ends (after an escalation). What it shows never changes. */
  update(gate: string, patch: Partial<Pick<PendingApproval, 'deadline' | 'escalated'>>): void {
    const p = this.waiting.get(gate);
    if (p) Object.assign(p, patch);
  }

  /** The gate no longer waits (decided, timed out, released, or its run was cancelled). */
  close(gate: string): void {
    this.waiting.delete(gate);
  }

  /** Copies of the waiting gates, in the order they opened. */
  pending(): PendingApproval[] {
    return [...this.waiting.values()].map(copyPending);
  }

  /** A copy of one waiting gate. */
  get(gate: string): PendingApproval | undefined {
    const p = this.waiting.get(gate);
    return p && copyPending(p);
  }

  /** How many gates wait now. */
  get size(): number {
    return this.waiting.size;
  }

  /** The first `n` waiting gates' ids, oldest first. */
  firstIds(n: number): string[] {
    const out: string[] = [];
    for (const id of this.waiting.keys()) {
      if (out.length >= n) break;
      out.push(id);
    }
    return out;
  }

  decisionFor(gate: string): ApprovalDecision | undefined {
    return this.decided.get(gate);
  }

  /** Copies of every decision, in order (released gates included). */
  decisions(): ApprovalDecision[] {
    return this.log.map((d) => ({ ...d }));
  }

  /** Throw a non-retryable RunStopped failure when the run has stopped; `what` says what did not happen. */
  assertRunning(what: string): void {
    if (this.stoppedBecause === undefined) return;
    throw ApplicationFailure.create({
      type: RUN_STOPPED,
      nonRetryable: true,
      message: `${what}: the run has failed (${this.stoppedBecause}), so nothing new starts`,
    });
  }

  /**
   * The run has failed: from now on no gate opens and none can be decided. Every gate still
   * waiting ends as `released` (recorded in decisions, so progress shows it), which wakes its
   * waiter. Returns the released gates' ids. Calling it again changes nothing.
   */
  release(reason: string, now: string): string[] {
    if (this.stoppedBecause !== undefined) return [];
    this.stoppedBecause = reason;
    const ids = [...this.waiting.keys()];
    for (const id of ids) {
      const g = this.waiting.get(id)!;
      this.record({
        gate: id,
        step: g.step,
        outcome: 'released',
        by: 'run',
        comment: `released without a decision: ${reason}`,
        decidedAt: now,
        digest: g.digest,
        ...(g.escalated && { escalated: true }),
        via: 'release',
      });
    }
    return ids;
  }

  /**
   * May this decision be taken? Checks a decision as it arrives from outside (any JSON) against
   * the waiting gates, touching nothing. Throws a non-retryable ApplicationFailure whose type is
   * one of DECISION_REFUSED and whose message says what is wrong and what is waiting; returns
   * the clean decision. The rules:
   * - a run that has failed takes no decision (`RunFailed`);
   * - `gate` may be left out only while exactly one gate waits (`GateRequired`);
   * - `digest`, when given, must be the digest of what the gate shows now (`Stale`); it may be
   *   left out only while exactly one gate waits (the stock `temporal workflow signal` case);
   * - edits go with approvals, `editedDraft` for a draft gate, `editedArguments` for a tool gate.
   */
  check(input: unknown): CheckedDecision {
    const refuse = (type: string, message: string): never => {
      throw ApplicationFailure.create({ type, message, nonRetryable: true });
    };
    const invalid = (message: string) => refuse(DECISION_REFUSED.invalid, message);
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return invalid(
        'a decision is a JSON object: {"gate": "...", "outcome": "approved", "by": "...", "digest": "sha256:...", "comment": "..."}',
      );
    }
    const d = input as Partial<Record<keyof DecisionInput, unknown>>;
    const outcome = outcomeOf(d.outcome);
    if (!outcome)
      return invalid(`"outcome" must be "approved" or "rejected" (got ${JSON.stringify(d.outcome ?? null)})`);
    if (typeof d.by !== 'string' || d.by.trim() === '')
      return invalid('say who decides: "by" must be a non-empty name');
    if (d.comment !== undefined && typeof d.comment !== 'string') return invalid('"comment" must be text');
    if (
      d.decidedAt !== undefined &&
      (typeof d.decidedAt !== 'string' || Number.isNaN(Date.parse(d.decidedAt)))
    ) {
      return invalid('"decidedAt" must be an ISO 8601 time, e.g. 2025-01-31T12:00:00Z');
    }
    if (d.gate !== undefined && (typeof d.gate !== 'string' || d.gate === ''))
      return invalid('"gate" must be a gate id');
    if (d.digest !== undefined && (typeof d.digest !== 'string' || d.digest === ''))
      return invalid('"digest" must be the digest the gate showed (its "digest" in pendingApprovals)');

    if (this.stoppedBecause !== undefined) {
      const which = typeof d.gate === 'string' ? `gate '${d.gate}' was` : 'its gates were';
      return refuse(
        DECISION_REFUSED.runFailed,
        `the run has failed (${this.stoppedBecause}); ${which} released without a decision and no gate can be decided`,
      );
    }

    const waiting = [...this.waiting.keys()].map((g) => `'${g}'`);
    let gateId = d.gate;
    if (gateId === undefined) {
      if (waiting.length === 0)
        return refuse(DECISION_REFUSED.unknownGate, 'no gate is waiting for a decision in this run');
      if (waiting.length > 1) {
        return refuse(
          DECISION_REFUSED.gateRequired,
          `${waiting.length} gates are waiting, name one: ${waiting.join(', ')}`,
        );
      }
      gateId = [...this.waiting.keys()][0]!;
    }
    const earlier = this.decided.get(gateId);
    if (earlier) {
      return refuse(
        DECISION_REFUSED.alreadyDecided,
        `gate '${gateId}' was already decided: ${earlier.outcome} by ${earlier.by} at ${earlier.decidedAt}`,
      );
    }
    const gate = this.waiting.get(gateId);
    if (!gate) {
      const now = waiting.length ? `waiting: ${waiting.join(', ')}` : 'no gate is waiting';
      return refuse(DECISION_REFUSED.unknownGate, `no gate '${gateId}' waits in this run (${now})`);
    }
    if (d.digest === undefined && waiting.length > 1) {
      return invalid(
        `${waiting.length} gates are waiting, so a decision must say what it saw: pass the "digest" that ` +
          `pendingApprovals shows for gate '${gateId}' (baton approve does this for you)`,
      );
    }
    if (d.digest !== undefined && d.digest !== gate.digest) {
      return refuse(
        DECISION_REFUSED.stale,
        `gate '${gateId}' shows something else than what was decided on (digest ${d.digest} was seen, ` +
          `it shows ${gate.digest} now): look at it again (baton approvals, or the pendingApprovals query) and decide anew`,
      );
    }

    if (d.editedDraft !== undefined) {
      if (typeof d.editedDraft !== 'string') return invalid('"editedDraft" must be text');
      if (gate.kind !== 'draft')
        return invalid(
          gate.kind === 'tool'
            ? `gate '${gateId}' is a tool call: edit it with "editedArguments", not "editedDraft"`
            : `gate '${gateId}' is a ${gate.kind} gate: "editedDraft" is for draft gates`,
        );
      if (outcome !== 'approved')
        return invalid('edits go with "approved"; a rejection carries a comment instead');
    }
    if (d.editedArguments !== undefined) {
      if (
        d.editedArguments === null ||
        typeof d.editedArguments !== 'object' ||
        Array.isArray(d.editedArguments)
      ) {
        return invalid(`"editedArguments" must be a JSON object of the tool's arguments`);
      }
      if (gate.kind !== 'tool')
        return invalid(
          gate.kind === 'draft'
            ? `gate '${gateId}' is a draft: edit it with "editedDraft", not "editedArguments"`
            : `gate '${gateId}' is a ${gate.kind} gate: "editedArguments" is for tool gates`,
        );
      if (outcome !== 'approved')
        return invalid('edits go with "approved"; a rejection carries a comment instead');
    }
    // The money side (a budget gate's new limits) is the ledger's to check.
    const budget = checkBudgetDecision({ outcome, budget: d.budget }, gate);
    return {
      gate: gateId,
      step: gate.step,
      outcome,
      by: d.by.trim(),
      digest: gate.digest,
      ...(typeof d.comment === 'string' && d.comment !== '' && { comment: d.comment }),
      ...(typeof d.decidedAt === 'string' && { decidedAt: d.decidedAt }),
      ...(typeof d.editedDraft === 'string' && { editedDraft: d.editedDraft }),
      ...(d.editedArguments !== undefined && {
        editedArguments: structuredCopy(d.editedArguments as Record<string, unknown>),
      }),
      ...(budget && { budget }),
      ...(gate.escalated && { escalated: true }),
    };
  }

  /**
   * Check and record a person's decision; the gate stops waiting. `now` is the workflow time,
   * used when the caller did not say when they decided. Throws like {@link check}.
   */
  decide(input: unknown, via: 'update' | 'signal', now: string): ApprovalDecision {
    const d = this.check(input);
    return this.record({ ...d, decidedAt: d.decidedAt ?? now, via });
  }

  /** Record a decision (a person's, a deadline's, or a release) and close its gate. */
  record(d: ApprovalDecision): ApprovalDecision {
    this.log.push(d);
    this.decided.set(d.gate, d);
    this.waiting.delete(d.gate);
    return { ...d };
  }
}

/** `approved` / `rejected`, also spelled `approve` / `reject`; anything else is not an outcome. */
function outcomeOf(v: unknown): 'approved' | 'rejected' | undefined {
  if (v === 'approved' || v === 'approve') return 'approved';
  if (v === 'rejected' || v === 'reject') return 'rejected';
  return undefined;
}

function structuredCopy<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function copyPending(p: PendingApproval): PendingApproval {
  return {
    ...p,
    ...(p.tool && { tool: { name: p.tool.name, arguments: structuredCopy(p.tool.arguments) } }),
  };
}
