import type { Budget, McpServerDeclaration, ModelResponse, StepDefinition, Usage } from '../types';
import { ZERO_USAGE } from '../types';
import {
  type FallbackAttempt,
  type ResumeState,
  type RoleUsage,
  type RunLineage,
  type RunProgress,
  type StepProgress,
} from './api';
import { GateRegistry } from './gates';
import { Ledger } from './ledger';

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
  /** The run's approval gates and decisions (their own module: gates.ts). */
  readonly gates = new GateRegistry();

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
      if (s.kind === 'ensemble' && !s.fanOut) this.declare(s.definition.steps, `${name}/`);
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
    // An approval step of the parent run whose gate opens again (it shows something else now).
    delete s.reused;
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
    if (res.profile !== undefined) s.profile = res.profile;
    s.attempts = res.timing.attempt;
    s.startedAt ??= res.timing.startedAt;
    s.endedAt = res.timing.endedAt;
    this.usage = addUsage(this.usage, res.usage);
    this.costUsd = dollars(this.costUsd + res.costUsd);
  }

  /** Note a call of a step that failed with one profile and goes on to the next. */
  recordFallback(name: string, attempt: FallbackAttempt): void {
    const s = this.step(name);
    s.fallbacks = [...(s.fallbacks ?? []), attempt];
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

  /**
   * The next ordinal of a tool call in a step, from 1; counted over the whole logical run (it
   * carries over continue-as-new), so with the run id and the step it makes each call's
   * idempotency key. Kept apart from `toolCalls` in progress, which a retry's reused steps show.
   */
  nextToolCall(step: string): number {
    const n = (this.toolOrdinals.get(step) ?? 0) + 1;
    this.toolOrdinals.set(step, n);
    return n;
  }
  private readonly toolOrdinals = new Map<string, number>();

  /** Tool calls a step has issued so far (the ordinal of its last idempotency key; 0 for none). */
  toolCallsIssued(step: string): number {
    return this.toolOrdinals.get(step) ?? 0;
  }

  /** Move a step's ordinal on to `n`: a child workflow (a ReAct step's) issued the calls between. */
  advanceToolCalls(step: string, n: number): void {
    if (n > this.toolCallsIssued(step)) this.toolOrdinals.set(step, n);
  }

  /** MCP servers the run declares (`mcp_servers`), for its agents' `<server>.<tool>` calls. */
  mcpServers?: Record<string, McpServerDeclaration>;

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

  /** A sharded fan-out's shards and items so far (see StepProgress.shards). */
  setShards(name: string, shards: NonNullable<StepProgress['shards']>): void {
    this.step(name).shards = { ...shards };
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

  /**
   * The run has failed: nothing new starts and no gate can be decided any more; gates still
   * waiting end as released. `reason` says why (`step 'x' failed`). See GateRegistry.release.
   */
  halt(reason: string, now: string): void {
    this.gates.release(reason, now);
  }

  /** Why the run stopped (it failed), or undefined while it runs. */
  get stopped(): string | undefined {
    return this.gates.stopped;
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
      for (const d of c.decisions ?? []) this.gates.record(d);
      for (const [step, n] of Object.entries(c.toolCalls ?? {})) this.toolOrdinals.set(step, n);
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
        ...(this.toolOrdinals.size > 0 && { toolCalls: Object.fromEntries(this.toolOrdinals) }),
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
    const decisions = this.gates.decisions();
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
      ...(this.gates.size > 0 && { pendingApprovals: this.gates.pending() }),
      ...(decisions.length > 0 && { decisions }),
      ...(this.parent && { parent: { ...this.parent } }),
      ...((this.ledger.limited || this.ledger.lineage) && { budget: this.ledger.view() }),
    };
  }
}
