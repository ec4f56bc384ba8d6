import { ApplicationFailure } from '@temporalio/workflow';
import type { Budget, ModelResponse, StepDefinition, Usage } from '../types';
import { ZERO_USAGE } from '../types';
import {
  DECISION_REFUSED,
  type ApprovalDecision,
  type DecisionInput,
  type PendingApproval,
  type ResumeState,
  type RoleUsage,
  type RunLineage,
  type RunProgress,
  type StepProgress,
} from './api';
import { checkBudgetDecision, Ledger } from './ledger';

function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
  };
}

/** Payloads over 2 MB are refused by Temporal; JSON text of this many characters stays well under. */
const MAX_SNAPSHOT_CHARS = 500_000;
const PREVIEW_CHARS = 2_000;

/** Round sums of dollars so that 0.1 + 0.2 shows as 0.3 in progress and results. */
const dollars = (n: number) => Math.round(n * 1e8) / 1e8;

/**
 * The bookkeeping of one run: what each step did and what it cost. Workflow code updates it as
 * steps move; the progress query reads a copy of it.
 */
export class RunState {
  private readonly steps = new Map<string, StepProgress>();
  private usage: Usage = { ...ZERO_USAGE };
  private costUsd = 0;
  private readonly roles = new Map<string, RoleUsage>();
  status: RunProgress['status'] = 'running';
  output?: string;
  error?: RunProgress['error'];
  /** Gates waiting for a decision, by gate id, in the order they opened. */
  private readonly gates = new Map<string, PendingApproval>();
  /** Every decision, in order; and by gate id. */
  private readonly decisions: ApprovalDecision[] = [];
  private readonly decided = new Map<string, ApprovalDecision>();
  /** How often each gate id was asked for (a gate in a loop opens once per iteration). */
  private readonly gateUses = new Map<string, number>();

  /** The run's money: limits, reservations, settled spending (src/workflows/ledger.ts decides). */
  readonly ledger: Ledger;

  constructor(
    readonly name: string,
    budget?: Budget,
  ) {
    this.ledger = new Ledger(budget);
  }

  /** Register steps (in declared order) so progress lists them before they start. */
  declare(steps: StepDefinition[], prefix = ''): void {
    for (const s of steps) {
      const name = prefix + s.name;
      if (!this.steps.has(name)) {
        this.steps.set(name, {
          name,
          kind: s.kind,
          status: 'pending',
          calls: 0,
          usage: { ...ZERO_USAGE },
          costUsd: 0,
        });
      }
      if (s.kind === 'loop') this.declare(s.body, `${name}/`);
    }
  }

  private step(name: string): StepProgress {
    let s = this.steps.get(name);
    if (!s) {
      s = { name, kind: 'agent', status: 'pending', calls: 0, usage: { ...ZERO_USAGE }, costUsd: 0 };
      this.steps.set(name, s);
    }
    return s;
  }

  start(name: string): void {
    const s = this.step(name);
    s.status = 'running';
    delete s.error;
    delete s.reason;
  }

  setStatus(name: string, status: StepProgress['status']): void {
    this.step(name).status = status;
  }

  /** Count a model call's usage and cost against its step and the run. */
  record(name: string, res: ModelResponse): void {
    const s = this.step(name);
    s.calls += 1;
    s.usage = addUsage(s.usage, res.usage);
    s.costUsd = dollars(s.costUsd + res.costUsd);
    s.model = res.model;
    s.attempts = res.timing.attempt;
    s.startedAt ??= res.timing.startedAt;
    s.endedAt = res.timing.endedAt;
    this.usage = addUsage(this.usage, res.usage);
    this.costUsd = dollars(this.costUsd + res.costUsd);
  }

  /** Count a model call (already recorded against its step) against a role too: planner, solver... */
  recordRole(role: string, res: Pick<ModelResponse, 'usage' | 'costUsd'>, calls = 1): void {
    const r = this.roles.get(role) ?? { calls: 0, usage: { ...ZERO_USAGE }, costUsd: 0 };
    this.roles.set(role, {
      calls: r.calls + calls,
      usage: addUsage(r.usage, res.usage),
      costUsd: dollars(r.costUsd + res.costUsd),
    });
  }

  /** Count a tool call against its step. */
  recordTool(name: string): void {
    const s = this.step(name);
    s.toolCalls = (s.toolCalls ?? 0) + 1;
  }

  /**
   * Count what a child workflow spent (its own progress) against a step and the run, so the
   * run's totals and budget include work done in children.
   */
  recordChild(name: string, child: Pick<RunProgress, 'usage' | 'costUsd' | 'steps'>): void {
    const s = this.step(name);
    s.calls += child.steps.reduce((n, c) => n + c.calls, 0);
    const tools = child.steps.reduce((n, c) => n + (c.toolCalls ?? 0), 0);
    if (tools > 0) s.toolCalls = (s.toolCalls ?? 0) + tools;
    s.usage = addUsage(s.usage, child.usage);
    s.costUsd = dollars(s.costUsd + child.costUsd);
    this.usage = addUsage(this.usage, child.usage);
    this.costUsd = dollars(this.costUsd + child.costUsd);
  }

  complete(name: string, output: string): void {
    const s = this.step(name);
    s.status = 'completed';
    s.output = output;
  }

  fail(name: string, error: { type: string; message: string }): void {
    const s = this.step(name);
    s.status = 'failed';
    s.error = error;
  }

  skip(name: string, reason: string): void {
    const s = this.step(name);
    s.status = 'skipped';
    s.reason = reason;
  }

  // -------------------------------------------------------------------------------------------
  // Approval gates
  // -------------------------------------------------------------------------------------------

  /** A gate id not used before in this run: `base`, then `base#2`, `base#3`... */
  gateId(base: string): string {
    const n = (this.gateUses.get(base) ?? 0) + 1;
    this.gateUses.set(base, n);
    const id = n === 1 ? base : `${base}#${n}`;
    // A caller could have asked for `x#2` itself; keep counting until the id is fresh.
    return this.gates.has(id) || this.decided.has(id) ? this.gateId(base) : id;
  }

  /** Show a gate as waiting (progress, query, memo). */
  openGate(p: PendingApproval): void {
    this.gates.set(p.gate, p);
  }

  /** Change what a waiting gate shows (after an escalation: its new deadline). */
  updateGate(gate: string, patch: Partial<Pick<PendingApproval, 'deadline' | 'escalated'>>): void {
    const p = this.gates.get(gate);
    if (p) Object.assign(p, patch);
  }

  /** The gate no longer waits (decided, timed out, or its run was cancelled). */
  closeGate(gate: string): void {
    this.gates.delete(gate);
  }

  /** Copies of the waiting gates, in the order they opened. */
  pendingApprovals(): PendingApproval[] {
    return [...this.gates.values()].map(copyPending);
  }

  decisionFor(gate: string): ApprovalDecision | undefined {
    return this.decided.get(gate);
  }

  /**
   * Check a decision as it arrives from outside (any JSON) against the waiting gates, touching
   * nothing. Throws a non-retryable ApplicationFailure whose type is one of DECISION_REFUSED and
   * whose message says what is wrong and what is waiting; returns the clean decision.
   */
  checkDecision(input: unknown): Omit<ApprovalDecision, 'decidedAt' | 'via'> & { decidedAt?: string } {
    const refuse = (type: string, message: string): never => {
      throw ApplicationFailure.create({ type, message, nonRetryable: true });
    };
    const invalid = (message: string) => refuse(DECISION_REFUSED.invalid, message);
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return invalid(
        'a decision is a JSON object: {"gate": "...", "outcome": "approved", "by": "...", "comment": "..."}',
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

    const waiting = [...this.gates.keys()].map((g) => `'${g}'`);
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
      gateId = [...this.gates.keys()][0]!;
    }
    const earlier = this.decided.get(gateId);
    if (earlier) {
      return refuse(
        DECISION_REFUSED.alreadyDecided,
        `gate '${gateId}' was already decided: ${earlier.outcome} by ${earlier.by} at ${earlier.decidedAt}`,
      );
    }
    const gate = this.gates.get(gateId);
    if (!gate) {
      const now = waiting.length ? `waiting: ${waiting.join(', ')}` : 'no gate is waiting';
      return refuse(DECISION_REFUSED.unknownGate, `no gate '${gateId}' waits in this run (${now})`);
    }

    if (d.editedDraft !== undefined) {
      if (typeof d.editedDraft !== 'string') return invalid('"editedDraft" must be text');
      if (gate.kind !== 'draft')
        return invalid(`gate '${gateId}' is a tool call: edit it with "editedArguments", not "editedDraft"`);
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
        return invalid(`gate '${gateId}' is a draft: edit it with "editedDraft", not "editedArguments"`);
      if (outcome !== 'approved')
        return invalid('edits go with "approved"; a rejection carries a comment instead');
    }
    const budget = checkBudgetDecision({ outcome, budget: d.budget }, gate);
    return {
      gate: gateId,
      step: gate.step,
      outcome,
      by: d.by.trim(),
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
   * used when the caller did not say when they decided. Throws like {@link checkDecision}.
   */
  decide(input: unknown, via: 'update' | 'signal', now: string): ApprovalDecision {
    const d = this.checkDecision(input);
    return this.recordDecision({ ...d, decidedAt: d.decidedAt ?? now, via });
  }

  /** Record a decision (a person's, or a deadline's) and close its gate. */
  recordDecision(d: ApprovalDecision): ApprovalDecision {
    this.decisions.push(d);
    this.decided.set(d.gate, d);
    this.gates.delete(d.gate);
    return { ...d };
  }

  /** Where this run came from (retry, fork, continuation). */
  parent?: RunLineage;

  /**
   * Start from an earlier run's state: reused steps are completed with their recorded outputs.
   * A continuation (same logical run) also carries on its spending; a retry or fork shows the
   * reused steps' usage but does not count it again.
   */
  restore(resume: ResumeState): void {
    if (resume.parent) this.parent = { ...resume.parent };
    const recorded = new Map((resume.steps ?? []).map((s) => [s.name, s]));
    const continuing = resume.parent?.kind === 'continue-as-new';
    for (const [name, output] of Object.entries(resume.reuse)) {
      const before = recorded.get(name);
      const s = this.step(name);
      Object.assign(s, before ? { ...before, usage: { ...before.usage } } : {}, {
        name,
        status: 'completed',
        output,
      });
      if (!continuing) s.reused = true;
    }
    if (continuing && resume.steps) {
      // Loop body steps and anything else the earlier run showed stay visible in progress.
      for (const before of resume.steps)
        if (!this.steps.get(before.name)?.output)
          this.steps.set(before.name, { ...before, usage: { ...before.usage } });
    }
    const c = resume.carried;
    if (c) {
      this.usage = addUsage(this.usage, c.usage);
      this.costUsd = dollars(this.costUsd + c.costUsd);
      for (const [role, r] of Object.entries(c.roles ?? {}))
        this.roles.set(role, { ...r, usage: { ...r.usage } });
      for (const d of c.decisions ?? []) this.recordDecision(d);
      // The same logical run: its ledger carries on (older continuations carried usage only).
      const l = c.ledger;
      this.ledger.carry(
        l ? l.spent : { tokens: c.usage.inputTokens + c.usage.outputTokens, costUsd: c.costUsd },
      );
      if (l?.limit) this.ledger.raise(l.limit);
      if (l?.lineage) this.ledger.lineage = { ...l.lineage };
      if (l?.lineageCounted) this.ledger.lineageCounted = true;
    } else if (resume.lineageSpending) {
      const spent = resume.lineageSpending.spent;
      this.ledger.lineage = { ...spent };
      if (resume.lineageSpending.countAgainstBudget) {
        this.ledger.lineageCounted = true;
        this.ledger.carry(spent);
      }
    }
  }

  /** Steps now running, by name. */
  running(): string[] {
    return [...this.steps.values()]
      .filter((s) => s.status === 'running' || s.status === 'waiting')
      .map((s) => s.name);
  }

  /** The state a continuation of this run starts from (see {@link restore}). */
  continuation(parent: RunLineage, loops: ResumeState['loops']): ResumeState {
    const snap = this.snapshot();
    const reuse: Record<string, string> = {};
    for (const s of snap.steps)
      if (s.status === 'completed' && s.output !== undefined && !s.name.includes('/'))
        reuse[s.name] = s.output;
    return {
      reuse,
      // Outputs travel once, in `reuse`: the progress entries go without them to keep the input small.
      steps: snap.steps
        .filter((s) => s.status !== 'pending' && s.status !== 'running')
        .map(({ output: _output, ...rest }) => rest),
      carried: {
        usage: snap.usage,
        costUsd: snap.costUsd,
        ...(snap.roles && { roles: snap.roles }),
        ...(snap.decisions && { decisions: snap.decisions }),
        ledger: {
          spent: this.ledger.spent,
          ...(this.ledger.limited && { limit: this.ledger.limit }),
          ...(this.ledger.lineage && { lineage: this.ledger.lineage }),
          ...(this.ledger.lineageCounted && { lineageCounted: true }),
        },
      },
      ...(loops && { loops }),
      parent,
    };
  }

  /** The full output of one step (progress may carry only a preview of it). */
  outputOf(name: string): string | undefined {
    return this.steps.get(name)?.output;
  }

  /**
   * A snapshot that fits in one Temporal payload (2 MB by default): while it is larger than
   * `maxChars`, the largest step outputs are cut to a preview and marked `truncated`. The full
   * texts stay readable through the stepOutput query. The run output itself is never cut.
   */
  bounded(maxChars = MAX_SNAPSHOT_CHARS): RunProgress {
    const snap = this.snapshot();
    let size = JSON.stringify(snap).length;
    if (size <= maxChars) return snap;
    const bySize = [...snap.steps]
      .filter((s) => s.output !== undefined)
      .sort((a, b) => b.output!.length - a.output!.length);
    for (const s of bySize) {
      if (size <= maxChars || s.output!.length <= PREVIEW_CHARS) break;
      const full = s.output!;
      s.output = full.slice(0, PREVIEW_CHARS);
      s.truncated = { chars: full.length };
      size -= full.length - PREVIEW_CHARS;
    }
    return snap;
  }

  /** A copy safe to hand out (queries, results, failure details). */
  snapshot(): RunProgress {
    return {
      name: this.name,
      status: this.status,
      steps: [...this.steps.values()].map((s) => ({ ...s, usage: { ...s.usage } })),
      usage: { ...this.usage },
      costUsd: this.costUsd,
      ...(this.output !== undefined && { output: this.output }),
      ...(this.error && { error: { ...this.error } }),
      ...(this.roles.size > 0 && {
        roles: Object.fromEntries([...this.roles].map(([k, r]) => [k, { ...r, usage: { ...r.usage } }])),
      }),
      ...(this.gates.size > 0 && { pendingApprovals: this.pendingApprovals() }),
      ...(this.decisions.length > 0 && { decisions: this.decisions.map((d) => ({ ...d })) }),
      ...(this.parent && { parent: { ...this.parent } }),
      ...((this.ledger.limited || this.ledger.lineage) && { budget: this.ledger.view() }),
    };
  }
}

/** `approved` / `rejected`, also spelled `approve` / `reject`; anything else is not an outcome. */
function outcomeOf(v: unknown): ApprovalDecision['outcome'] | undefined {
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
