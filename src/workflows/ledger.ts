/**
 * Money: one ledger per run decides whether a model call (or a child run) may start. A call
 * reserves its worst case before it starts and settles to what it really cost when it returns;
 * concurrent steps, fan-out instances, loop iterations and child runs all draw on the same ledger.
 * When the next call would cross the budget the run waits at one budget gate (an approval gate
 * of kind 'budget') where a person raises the budget or stops the run. Workflow code only.
 */
import { ApplicationFailure, condition, patched } from '@temporalio/workflow';
import type { Budget, ModelRequest, Pricing, Usage } from '../types';
import {
  BUDGET_EXCEEDED,
  DECISION_REFUSED,
  type ApprovalDecision,
  type LedgerView,
  type Limits,
  type Money,
  type PendingApproval,
} from './api';
import { requestApproval } from './approval';
import type { RunState } from './run-state';

/** Output tokens reserved for a call whose profile sets no `maxTokens` (Anthropic's default in Baton too). */
export const DEFAULT_RESERVED_OUTPUT_TOKENS = 4096;
/** Characters per token when estimating what a request sends: conservative (real text runs near 4). */
export const CHARS_PER_TOKEN = 3;
/** How long a budget gate waits for a decision when the budget names no `gateDeadline`. */
export const DEFAULT_BUDGET_GATE_DEADLINE = '24 hours';
/** Patch id of the ledger (reservations, budget gates, child allowances); runs before it replay the old check. */
export const LEDGER_PATCH = 'baton-budget-ledger';

export type { LedgerView, Limits, Money } from './api';

export const NO_MONEY: Money = Object.freeze({ tokens: 0, costUsd: 0 });

/** Round sums of dollars so that 0.1 + 0.2 shows as 0.3. */
const dollars = (n: number) => Math.round(n * 1e8) / 1e8;

export const addMoney = (a: Money, b: Money): Money => ({
  tokens: a.tokens + b.tokens,
  costUsd: dollars(a.costUsd + b.costUsd),
});
const subMoney = (a: Money, b: Money): Money => ({
  tokens: Math.max(0, a.tokens - b.tokens),
  costUsd: Math.max(0, dollars(a.costUsd - b.costUsd)),
});

/** What a usage costs on the ledger: its tokens, and its dollars at `pricing`. */
export function moneyOf(usage: Usage, costUsd: number): Money {
  return { tokens: usage.inputTokens + usage.outputTokens, costUsd };
}

/**
 * The worst case of one model call, before it starts: input tokens estimated from the request as
 * sent (its JSON, `CHARS_PER_TOKEN` characters a token, rounded up: messages, tool schemas and the
 * response schema all count) plus the profile's `maxTokens` (else DEFAULT_RESERVED_OUTPUT_TOKENS),
 * at the profile's prices (input at the dearer of the plain and cached input price).
 *
 * @example worstCaseOf({ profile, messages: [{ role: 'user', content: 'hi' }] }) // { tokens: 4108, costUsd: ... }
 */
export function worstCaseOf(req: ModelRequest): Money {
  const sent = JSON.stringify({
    messages: req.messages,
    ...(req.tools && { tools: req.tools }),
    ...(req.responseFormat && { responseFormat: req.responseFormat }),
  });
  // A conversation kept in the payload store is sent too: its characters count.
  const input = Math.ceil((sent.length + (req.earlier?.chars ?? 0)) / CHARS_PER_TOKEN);
  const output = req.profile.maxTokens ?? DEFAULT_RESERVED_OUTPUT_TOKENS;
  return { tokens: input + output, costUsd: priceOf(input, output, req.profile.pricing) };
}

function priceOf(input: number, output: number, p: Pricing | undefined): number {
  if (!p) return 0;
  const inPrice = Math.max(p.inputPerMTok, p.cachedInputPerMTok ?? 0);
  // Round up to a millionth of a cent: a reservation never comes out below the real price.
  return Math.ceil(((input * inPrice + output * p.outputPerMTok) / 1_000_000) * 1e8) / 1e8;
}

/** A reservation taken from the ledger; give it back with `settle` (or `release`). */
export interface Reservation {
  id: number;
  amount: Money;
}

/**
 * The book of one run: limits, settled spending and reservations. Pure arithmetic (unit tested);
 * waiting at the gate is {@link acquire}'s job.
 */
export class Ledger {
  private limits: Limits;
  private spentMoney: Money = { ...NO_MONEY };
  private reservedMoney: Money = { ...NO_MONEY };
  private readonly open = new Map<number, Money>();
  private nextId = 1;
  /** What earlier runs of the lineage spent (shown; counted in `spent` when `lineageCounted`). */
  lineage?: Money;
  lineageCounted = false;
  /** The budget gate waiting now, if any: every branch short of money waits on it. */
  gate?: Promise<void>;
  /** Set once a person (or a deadline) stopped the run at the budget gate. */
  stopped?: string;

  constructor(readonly budget?: Budget) {
    this.limits = limitsOf(budget);
  }

  /** Whether the run has any limit at all. */
  get limited(): boolean {
    return this.limits.maxCostUsd !== undefined || this.limits.maxTokens !== undefined;
  }

  get limit(): Limits {
    return { ...this.limits };
  }

  get spent(): Money {
    return { ...this.spentMoney };
  }

  get reserved(): Money {
    return { ...this.reservedMoney };
  }

  /** Whether `need` fits beside what is spent and reserved. */
  fits(need: Money): boolean {
    const total = addMoney(addMoney(this.spentMoney, this.reservedMoney), need);
    const l = this.limits;
    if (l.maxTokens !== undefined && total.tokens > l.maxTokens) return false;
    if (l.maxCostUsd !== undefined && total.costUsd > l.maxCostUsd + 1e-12) return false;
    return true;
  }

  /** Reserve `need` when it fits; undefined when it does not. */
  tryReserve(need: Money): Reservation | undefined {
    if (!this.fits(need)) return undefined;
    return this.reserve(need);
  }

  /** Reserve without checking (a run without limits, or a replay of the check made before the ledger). */
  reserve(need: Money): Reservation {
    const r = { id: this.nextId++, amount: { ...need } };
    this.open.set(r.id, r.amount);
    this.reservedMoney = addMoney(this.reservedMoney, need);
    return r;
  }

  /** Close a reservation: give it back and count what was really spent (may be more than reserved). */
  settle(r: Reservation | undefined, actual: Money): void {
    if (r && this.open.delete(r.id)) this.reservedMoney = subMoney(this.reservedMoney, r.amount);
    this.spentMoney = addMoney(this.spentMoney, actual);
  }

  /** Give a reservation back unspent (the call never started, or cost nothing). */
  release(r: Reservation | undefined): void {
    this.settle(r, NO_MONEY);
  }

  /** Count spending that comes from outside this run (a continuation's or a lineage's). */
  carry(m: Money): void {
    this.spentMoney = addMoney(this.spentMoney, m);
  }

  /** Replace limits (a budget gate's decision); fields not given stay as they were. */
  raise(to: Limits): void {
    this.limits = { ...this.limits, ...stripUndefined(to) };
  }

  /** What is left under every limit, after spending and reservations (Infinity where unlimited). */
  available(): Money {
    const used = addMoney(this.spentMoney, this.reservedMoney);
    return {
      tokens:
        this.limits.maxTokens === undefined ? Infinity : Math.max(0, this.limits.maxTokens - used.tokens),
      costUsd:
        this.limits.maxCostUsd === undefined
          ? Infinity
          : Math.max(0, dollars(this.limits.maxCostUsd - used.costUsd)),
    };
  }

  /** `spent $0.05 of max_cost_usd $0.05` / `used 30 of max_tokens 10`: each limit that `need` would cross. */
  describe(need: Money = NO_MONEY): string {
    const total = addMoney(addMoney(this.spentMoney, this.reservedMoney), need);
    const parts: string[] = [];
    const l = this.limits;
    if (l.maxCostUsd !== undefined && (total.costUsd > l.maxCostUsd || need === NO_MONEY))
      parts.push(`spent $${this.spentMoney.costUsd} of max_cost_usd $${l.maxCostUsd}`);
    if (l.maxTokens !== undefined && (total.tokens > l.maxTokens || need === NO_MONEY))
      parts.push(`used ${this.spentMoney.tokens} tokens of max_tokens ${l.maxTokens}`);
    if (parts.length === 0)
      parts.push(`spent $${this.spentMoney.costUsd} and ${this.spentMoney.tokens} tokens`);
    return parts.join(', ');
  }

  view(): LedgerView {
    return {
      ...(this.limited && { limit: this.limit }),
      spent: this.spent,
      reserved: this.reserved,
      ...(this.lineage && { lineage: { ...this.lineage } }),
      ...(this.lineageCounted && { lineageCounted: true }),
    };
  }
}

function limitsOf(b: Budget | undefined): Limits {
  return stripUndefined({ maxCostUsd: b?.maxCostUsd, maxTokens: b?.maxTokens });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function exceeded(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: BUDGET_EXCEEDED, nonRetryable: true, message });
}

/**
 * Take `need` from the run's ledger before a model call or a child run starts; wait while it does
 * not fit. While calls in flight hold reservations, wait for them to settle (they may cost less
 * than reserved). When nothing is in flight and it still does not fit, open the budget gate (one
 * per run at a time; every other branch short of money waits on the same gate): approved with a
 * new `budget`, the limits rise and the work goes on; rejected, or no decision by the gate's
 * deadline, and this call fails with a non-retryable `BudgetExceeded` naming the spent and the
 * limit. With `onExceeded: 'fail'` no gate opens: the call fails at once. Returns the reservation
 * to settle; undefined only in a run recorded before the ledger (the old check ran instead).
 *
 * @example const r = await acquire(state, 'draft', worstCaseOf(req)); ... ledger.settle(r, moneyOf(res.usage, res.costUsd));
 */
export async function acquire(state: RunState, step: string, need: Money): Promise<Reservation | undefined> {
  const ledger = state.ledger;
  if (!ledger.limited) return ledger.reserve(need);
  if (!patched(LEDGER_PATCH)) {
    // Recorded before the ledger: the old check (spent against limit, nothing reserved).
    legacyCheck(ledger, step);
    return undefined;
  }
  for (;;) {
    // A failed run starts nothing new, also not the call that waited here for money.
    state.gates.assertRunning(`step '${step}' made no further model call`);
    if (ledger.stopped) throw exceeded(`budget exceeded before step '${step}': ${ledger.stopped}`);
    if (!ledger.gate) {
      const r = ledger.tryReserve(need);
      if (r) return r;
    }
    if (ledger.gate) {
      await ledger.gate;
      continue;
    }
    const inFlight = ledger.reserved;
    if (inFlight.tokens > 0 || inFlight.costUsd > 0) {
      // Calls in flight may settle below their reservations: wait for room, or for nothing in flight.
      await condition(() => {
        const r = ledger.reserved;
        return (
          ledger.fits(need) ||
          (r.tokens === 0 && r.costUsd === 0) ||
          !!ledger.gate ||
          !!ledger.stopped ||
          !!state.stopped
        );
      });
      continue;
    }
    const why = `${ledger.describe(need)}; the next call of step '${step}' may cost up to ${describeMoney(need)}`;
    if (ledger.budget?.onExceeded === 'fail') throw exceeded(`budget exceeded before step '${step}': ${why}`);
    ledger.gate = budgetGate(state, step, need, why).finally(() => {
      ledger.gate = undefined;
    });
  }
}

async function budgetGate(state: RunState, step: string, need: Money, why: string): Promise<void> {
  const ledger = state.ledger;
  const d: ApprovalDecision = await requestApproval(state, {
    gate: 'budget',
    step,
    kind: 'budget',
    summary: `budget reached: ${why}`,
    budget: { ...ledger.view(), needed: need },
    deadline: ledger.budget?.gateDeadline ?? DEFAULT_BUDGET_GATE_DEADLINE,
    onTimeout: 'reject',
  });
  if (d.outcome === 'approved' && d.budget) {
    ledger.raise(d.budget);
    return;
  }
  const who = d.timedOut
    ? `no decision at the budget gate: ${d.comment ?? 'deadline passed'}`
    : `stopped by ${d.by}${d.comment ? `: ${d.comment}` : ''}`;
  ledger.stopped = `${ledger.describe()} (${who})`;
}

function legacyCheck(ledger: Ledger, step: string): void {
  const b = ledger.limit;
  const s = ledger.spent;
  if (b.maxCostUsd !== undefined && s.costUsd >= b.maxCostUsd)
    throw exceeded(
      `budget exceeded before step '${step}': spent $${s.costUsd} of max_cost_usd $${b.maxCostUsd}`,
    );
  if (b.maxTokens !== undefined && s.tokens >= b.maxTokens)
    throw exceeded(`budget exceeded before step '${step}': used ${s.tokens} of max_tokens ${b.maxTokens}`);
}

function describeMoney(m: Money): string {
  return `$${m.costUsd} and ${m.tokens} tokens`;
}

/**
 * The money side of a decision on a budget gate: checks the `budget` field of any decision against
 * the gate it names. Returns the new limits for an approval of a budget gate, undefined otherwise;
 * throws a non-retryable `InvalidDecision` failure saying what is wrong.
 *
 * @example checkBudgetDecision({ outcome: 'approved', budget: { maxCostUsd: 1 } }, gate) // { maxCostUsd: 1 }
 */
export function checkBudgetDecision(
  input: { outcome: 'approved' | 'rejected'; budget?: unknown },
  gate: Pick<PendingApproval, 'gate' | 'kind' | 'budget'>,
): Limits | undefined {
  const invalid = (message: string): never => {
    throw ApplicationFailure.create({ type: DECISION_REFUSED.invalid, message, nonRetryable: true });
  };
  const b = input.budget;
  if (gate.kind !== 'budget') {
    if (b !== undefined)
      invalid(`gate '${gate.gate}' is not a budget gate: "budget" goes only with a budget gate`);
    return undefined;
  }
  if (input.outcome === 'rejected') {
    if (b !== undefined) invalid('a new budget goes with "approved"; a rejection stops the run');
    return undefined;
  }
  const example = '"budget": {"maxCostUsd": 2.5} or {"maxTokens": 200000}';
  if (b === undefined || b === null || typeof b !== 'object' || Array.isArray(b))
    return invalid(`approving budget gate '${gate.gate}' needs the new limit: ${example}`);
  const o = b as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'maxCostUsd' && k !== 'maxTokens');
  if (unknown.length)
    return invalid(`"budget" has unknown field '${unknown[0]}' (fields: maxCostUsd, maxTokens)`);
  if (o.maxCostUsd === undefined && o.maxTokens === undefined)
    return invalid(`approving budget gate '${gate.gate}' needs the new limit: ${example}`);
  const out: Limits = {};
  const now = gate.budget;
  const spent = gate.budget?.spent ?? NO_MONEY;
  if (o.maxCostUsd !== undefined) {
    if (typeof o.maxCostUsd !== 'number' || !Number.isFinite(o.maxCostUsd) || o.maxCostUsd <= 0)
      return invalid(
        `"budget.maxCostUsd" must be a number of dollars > 0 (got ${JSON.stringify(o.maxCostUsd)})`,
      );
    if (
      o.maxCostUsd <= spent.costUsd ||
      (now?.limit?.maxCostUsd !== undefined && o.maxCostUsd <= now.limit.maxCostUsd)
    )
      return invalid(
        `"budget.maxCostUsd" ${o.maxCostUsd} does not raise the budget: spent $${spent.costUsd} of max_cost_usd $${now?.limit?.maxCostUsd ?? 'none'}`,
      );
    out.maxCostUsd = o.maxCostUsd;
  }
  if (o.maxTokens !== undefined) {
    if (typeof o.maxTokens !== 'number' || !Number.isInteger(o.maxTokens) || o.maxTokens <= 0)
      return invalid(`"budget.maxTokens" must be a whole number > 0 (got ${JSON.stringify(o.maxTokens)})`);
    if (
      o.maxTokens <= spent.tokens ||
      (now?.limit?.maxTokens !== undefined && o.maxTokens <= now.limit.maxTokens)
    )
      return invalid(
        `"budget.maxTokens" ${o.maxTokens} does not raise the budget: used ${spent.tokens} of max_tokens ${now?.limit?.maxTokens ?? 'none'}`,
      );
    out.maxTokens = o.maxTokens;
  }
  return out;
}

/** An equal part of what is left under the budget, for each of `n` child runs started together. */
export function shareOf(ledger: Ledger, n: number): Money {
  const a = ledger.available();
  return {
    tokens: Number.isFinite(a.tokens) ? Math.floor(a.tokens / Math.max(1, n)) : Infinity,
    costUsd: Number.isFinite(a.costUsd) ? Math.floor((a.costUsd / Math.max(1, n)) * 1e8) / 1e8 : Infinity,
  };
}

/** A child run's allowance: taken from the parent's ledger, and the budget the child runs under. */
export interface Allowance {
  reservation?: Reservation;
  /** What the child may spend in all; it fails with BudgetExceeded rather than cross it (`onExceeded: 'fail'`). */
  budget?: Budget;
  amount: Money;
}

/**
 * Take an allowance for a child run from the parent's ledger: `share` (see {@link shareOf}), but
 * at least `need` (the worst case of the child's first call); waits at the budget gate like a
 * model call when it does not fit. Give back what the child did not spend with
 * `ledger.settle(allowance.reservation, spentByChild)`.
 */
export async function acquireAllowance(
  state: RunState,
  step: string,
  need: Money,
  share: Money,
): Promise<Allowance> {
  const ledger = state.ledger;
  if (!ledger.limited) return { amount: need };
  if (!patched(LEDGER_PATCH)) {
    // Recorded before the ledger: the old check, and the child got all that was left. Runs recorded
    // before even that check existed delegated anyway (no 'supervisor-budget-before-delegation'
    // marker in their history) and go on doing so.
    try {
      legacyCheck(ledger, step);
    } catch (err) {
      if (patched('supervisor-budget-before-delegation')) throw err;
    }
    const s = ledger.spent;
    const l = ledger.limit;
    return {
      // Nothing counted for a child whose spending is unknown: the old code did not count it either.
      amount: { ...NO_MONEY },
      budget: {
        ...(l.maxTokens !== undefined && { maxTokens: Math.max(1, l.maxTokens - s.tokens) }),
        ...(l.maxCostUsd !== undefined && { maxCostUsd: Math.max(1e-9, l.maxCostUsd - s.costUsd) }),
      },
    };
  }
  const amount: Money = {
    tokens: Math.max(need.tokens, Number.isFinite(share.tokens) ? share.tokens : 0),
    costUsd: Math.max(need.costUsd, Number.isFinite(share.costUsd) ? share.costUsd : 0),
  };
  const reservation = await acquire(state, step, amount);
  const l = ledger.limit;
  return {
    amount,
    ...(reservation && { reservation }),
    budget: {
      ...(l.maxTokens !== undefined && { maxTokens: amount.tokens }),
      ...(l.maxCostUsd !== undefined && { maxCostUsd: amount.costUsd }),
      onExceeded: 'fail',
    },
  };
}
