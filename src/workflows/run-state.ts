import { ApplicationFailure } from '@temporalio/workflow';
import type { Budget, ModelResponse, StepDefinition, Usage } from '../types';
import { ZERO_USAGE } from '../types';
import { BUDGET_EXCEEDED, type RunProgress, type StepProgress } from './api';

function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
  };
}

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
  status: RunProgress['status'] = 'running';
  output?: string;
  error?: RunProgress['error'];

  constructor(
    readonly name: string,
    private readonly budget?: Budget,
  ) {}

  /** Register steps (in declared order) so progress lists them before they start. */
  declare(steps: StepDefinition[], prefix = ''): void {
    for (const s of steps) {
      const name = prefix + s.name;
      if (!this.steps.has(name)) {
        this.steps.set(name, { name, kind: s.kind, status: 'pending', calls: 0, usage: { ...ZERO_USAGE }, costUsd: 0 });
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

  /** Refuse to start another model call once the run's budget is spent. */
  checkBudget(stepName: string): void {
    const b = this.budget;
    if (!b) return;
    const tokens = this.usage.inputTokens + this.usage.outputTokens;
    if (b.maxCostUsd !== undefined && this.costUsd >= b.maxCostUsd) {
      throw ApplicationFailure.create({
        type: BUDGET_EXCEEDED,
        nonRetryable: true,
        message: `budget exceeded before step '${stepName}': spent $${this.costUsd} of max_cost_usd $${b.maxCostUsd}`,
      });
    }
    if (b.maxTokens !== undefined && tokens >= b.maxTokens) {
      throw ApplicationFailure.create({
        type: BUDGET_EXCEEDED,
        nonRetryable: true,
        message: `budget exceeded before step '${stepName}': used ${tokens} of max_tokens ${b.maxTokens}`,
      });
    }
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
    };
  }
}
