/**
 * The interpreter for declarative ensembles: a graph of steps joined by `dependsOn`, run in
 * phases. Every step whose dependencies are done starts at once; outputs flow downstream.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { AgentStep, Condition, EnsembleStep, LoopStep, StepDefinition } from '../types';
import { RUN_STOPPED, type RunInput, type RunOptions, type RunResult } from './api';
import { evaluateCondition, splitItems } from './conditions';
import { StepError, describeError } from './errors';
import { BATCH_FAN_OUT_PATCH, runBatchFanOut } from './batch-fan-out';
import { approvalDraft, runApprovalStep } from './approval';
import { gateDigest } from './digest';
import { MEMORY_PATCH, withMemory } from './memory';
import { parallel } from './patterns/parallel';
import { runToolAgent } from './patterns/react-agent';
import type { RunState } from './run-state';
import { runScriptStep } from './script';
import { runShards, shardSizeFor } from './shards';
import { runAgentCall, startPlainAgentCall } from './step';
import { renderTemplate, type TemplateScope } from './template';

/** What every step of one run shares. */
export interface GraphContext {
  state: RunState;
  input: string;
  options?: RunOptions;
  /** The run's whole input: a continuation starts from it. */
  run?: RunInput;
}

type Settled = 'completed' | 'skipped' | 'failed';

const describeCondition = (c: Condition) =>
  `${c.ref} ${c.op}${c.value !== undefined ? ` ${JSON.stringify(c.value)}` : ''}`;

/**
 * Runs from this marker on take the lean course through a graph: a step's successors start from
 * the callback that settles it (no wake promise per turn), a plain agent step's model call is
 * scheduled without the async functions around it (startPlainAgentCall), and the run skips the
 * awaits that had nothing to wait for. Every promise made in workflow code costs a stack trace
 * under Temporal's promise hook; a three-step chain makes about half as many. Commands are the
 * same, but parallel branches may issue them in another order, so older runs keep their course.
 */
export const LEAN_STEPS_PATCH = 'baton-lean-step-promises';

/**
 * Run a graph of steps and return each step's output by name. `outer` holds outputs of steps
 * outside this graph (a loop body sees the steps before the loop); `prefix` names steps in progress.
 * When a step fails, no new step starts, the ones already running finish (their results are
 * kept), and the first failure is thrown as a StepError.
 */
export function runGraph(
  ctx: GraphContext,
  steps: StepDefinition[],
  outer: Record<string, string> = {},
  prefix = '',
  loop?: TemplateScope['loop'],
): Promise<Record<string, string>> {
  const g = new Graph(ctx, steps, outer, prefix, loop);
  return patched(LEAN_STEPS_PATCH) ? runLean(g) : runClassic(g);
}

/** The course of runs recorded before LEAN_STEPS_PATCH: one wake promise awaited per turn. */
async function runClassic(g: Graph): Promise<Record<string, string>> {
  // One waiter woken by whichever step settles next; racing every running promise on each
  // turn would attach O(n²) callbacks in a wide fan-out.
  let wake: (() => void) | undefined;
  g.onSettle = () => wake?.();
  for (;;) {
    g.startReady(false);
    if (g.running.size === 0) break;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
  return g.result();
}

/** LEAN_STEPS_PATCH: ready steps start from the callback that settled the last one. */
function runLean(g: Graph): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let pumping = false;
    let ended = false;
    const pump = () => {
      // A step settled while steps start (skipped, reused): the loop in startReady sees it.
      if (pumping || ended) return;
      pumping = true;
      try {
        g.startReady(true);
      } catch (err) {
        ended = true;
        reject(err as Error);
        return;
      } finally {
        pumping = false;
      }
      if (g.running.size > 0) return;
      ended = true;
      try {
        resolve(g.result());
      } catch (err) {
        reject(err as Error);
      }
    };
    g.onSettle = pump;
    pump();
  });
}

/** One run of a graph of steps: what has settled, what runs, and how a ready step starts. */
class Graph {
  readonly outputs: Record<string, string> = {};
  private readonly settled = new Map<string, Settled>();
  readonly running = new Set<string>();
  private readonly failures: StepError[] = [];
  private readonly local: Set<string>;
  private pending: StepDefinition[];
  private releasedBecause: string | undefined;
  // When a step fails, the run stops acting: every gate still waiting (approval steps and tool
  // gates inside agent steps alike) is released, no gate can be decided, and no new model or tool
  // call starts (RunState.halt). Runs that failed before this existed released only approval
  // steps, by cancelling them; they replay that way.
  private readonly gates = new Map<string, CancellationScope>();
  private readonly released = new Set<string>();
  /** Called once a started step has settled and its outcome is recorded (not for skipped or reused steps). */
  onSettle: () => void = () => undefined;

  constructor(
    private readonly ctx: GraphContext,
    steps: StepDefinition[],
    private readonly outer: Record<string, string>,
    private readonly prefix: string,
    private readonly loop: TemplateScope['loop'] | undefined,
  ) {
    this.local = new Set(steps.map((s) => s.name));
    this.pending = [...steps];
  }

  private waitingGates(): string[] {
    return [...this.gates.keys()].filter((name) => this.running.has(name) && !this.released.has(name));
  }

  private releaseGates(failedStep: string): void {
    if (patched('baton-halt-on-failure')) {
      this.ctx.state.halt(`step '${failedStep}' failed`, new Date().toISOString());
      this.releasedBecause ??= failedStep;
      return;
    }
    // Runs started before the halt kept to one of two older behaviours: release approval steps by
    // cancelling them (marker 'release-gates-when-a-step-fails'), or, before that, keep them waiting.
    // Asked only when a gate waits, so other runs get no marker.
    if (this.waitingGates().length === 0 || !patched('release-gates-when-a-step-fails')) return;
    for (const name of this.waitingGates()) {
      this.released.add(name);
      this.gates.get(name)!.cancel();
    }
    this.releasedBecause ??= failedStep;
  }

  // Dependencies outside this graph (loop bodies naming outer steps) are done by construction;
  // a name known nowhere keeps its step from ever starting, which is reported below.
  private ready(s: StepDefinition): boolean {
    return s.dependsOn.every((d) =>
      this.local.has(d) ? this.settled.has(d) : Object.prototype.hasOwnProperty.call(this.outer, d),
    );
  }

  private settle(s: StepDefinition, how: Settled): void {
    this.settled.set(s.name, how);
    // A skipped step reads as empty text downstream, so a join after a router sees every branch.
    if (how === 'skipped') this.outputs[s.name] = '';
    this.running.delete(s.name);
  }

  /** Start every ready step; skipping one can make others ready, so repeat until nothing moves. */
  startReady(lean: boolean): void {
    const { ctx, outputs, prefix, outer, loop } = this;
    let moved = true;
    while (moved && this.failures.length === 0 && ctx.state.stopped === undefined) {
      moved = false;
      for (const s of this.pending.filter((p) => this.ready(p))) {
        this.pending = this.pending.filter((p) => p !== s);
        moved = true;
        const key = prefix + s.name;
        const reused = prefix === '' ? ctx.run?.resume?.reuse[s.name] : undefined;
        if (reused !== undefined && !(s.kind === 'approval' && !sameGate(ctx, s, { ...outer, ...outputs }))) {
          // Completed in the run this one retries, forks or continues: its output stands.
          outputs[s.name] = reused;
          this.settle(s, 'completed');
          continue;
        }
        const localDeps = s.dependsOn.filter((d) => this.local.has(d));
        if (localDeps.length > 0 && localDeps.every((d) => this.settled.get(d) === 'skipped')) {
          ctx.state.skip(key, 'every step it depends on was skipped');
          this.settle(s, 'skipped');
          continue;
        }
        const known = { ...outer, ...outputs };
        if (s.when && !evaluateCondition(s.when, known)) {
          ctx.state.skip(key, `condition '${describeCondition(s.when)}' was false`);
          this.settle(s, 'skipped');
          continue;
        }
        ctx.state.start(key);
        const scope: TemplateScope = { input: ctx.input, steps: known, ...(loop && { loop }) };
        const completed = (out: string) => {
          try {
            outputs[s.name] = out;
            ctx.state.complete(key, out);
            this.settle(s, 'completed');
          } finally {
            this.onSettle();
          }
        };
        // onSettle only once the failure is recorded: the lean course may end the graph from it.
        const failed = (err: unknown) => {
          try {
            this.stepFailed(s, key, err);
          } finally {
            this.onSettle();
          }
        };
        this.running.add(s.name);
        if (lean && startPlainStep(ctx, s, key, scope, completed, failed)) continue;
        const gate = s.kind === 'approval' ? new CancellationScope() : undefined;
        if (gate) this.gates.set(s.name, gate);
        const work = gate ? gate.run(() => runStep(ctx, s, key, scope)) : runStep(ctx, s, key, scope);
        void work.then(completed, failed);
      }
    }
  }

  private stepFailed(s: StepDefinition, key: string, err: unknown): void {
    const { ctx } = this;
    if (err instanceof ContinueAsNew) {
      // Not a failure: the run goes on as a new execution with the same id.
      this.failures.push(new StepError(key, { type: 'ContinueAsNew', message: 'continued as new' }, err));
      this.settle(s, 'failed');
      return;
    }
    if (this.released.has(s.name) && isCancellation(err)) {
      ctx.state.skip(key, `released without a decision: step '${this.releasedBecause}' failed`);
      this.settle(s, 'skipped');
      return;
    }
    if (describeError(err).type === RUN_STOPPED && ctx.state.stopped !== undefined) {
      // Stopped because another step failed: a released gate, a call that was not started.
      const wasGate = /released without a decision/.test(describeError(err).message);
      ctx.state.skip(
        key,
        `${wasGate ? 'released without a decision' : 'stopped before it finished'}: ${ctx.state.stopped}`,
      );
      this.settle(s, 'skipped');
      return;
    }
    this.settle(s, 'failed');
    // A loop whose body failed fails too, with the body step's error.
    ctx.state.fail(key, describeError(err));
    const failure = err instanceof StepError ? err : new StepError(key, describeError(err), err);
    this.failures.push(failure);
    if (!isCancellation(err)) this.releaseGates(failure.step);
  }

  /** The outputs once nothing runs; throws the first failure, or names steps that could never start. */
  result(): Record<string, string> {
    const { failures, pending } = this;
    if (failures.length) {
      const passThrough = failures.find(
        (f) => f.original instanceof ContinueAsNew || isCancellation(f.original),
      );
      throw passThrough ? passThrough.original : failures[0];
    }
    if (pending.length) {
      // Static checks refuse cycles before a run starts; this guards definitions built by hand.
      throw ApplicationFailure.create({
        type: 'InvalidDefinition',
        nonRetryable: true,
        message: `steps ${pending.map((p) => `'${p.name}'`).join(', ')} can never start: their depends_on form a cycle or name a missing step`,
      });
    }
    return this.outputs;
  }
}

/** LEAN_STEPS_PATCH: a plain agent step (one model call, nothing around it) starts its call at once. */
function startPlainStep(
  ctx: GraphContext,
  s: StepDefinition,
  key: string,
  scope: TemplateScope,
  completed: (out: string) => void,
  failed: (err: unknown) => void,
): boolean {
  if (s.kind !== 'agent' || s.fanOut || s.tools?.length || s.recall || s.remember) return false;
  if (s.inputKey !== undefined) return false;
  return startPlainAgentCall(ctx.state, key, s, scope, ctx.options, completed, failed);
}

/**
 * Whether a reused approval step (from the run this one retries or forks) would show what was
 * approved then: the same digest of its rendered draft. Otherwise its gate opens again: an
 * approval binds to what the person saw, not to the step's name. Runs started before digests
 * reused every approval step, and replay that way (patched).
 */
function sameGate(
  ctx: GraphContext,
  s: StepDefinition & { kind: 'approval' },
  steps: Record<string, string>,
): boolean {
  // A continuation is the same run: what it approved stands.
  if (ctx.run?.resume?.parent?.kind === 'continue-as-new') return true;
  if (!patched('baton-gate-reuse-digest')) return true;
  const approved = ctx.run?.resume?.gates?.[s.name];
  if (approved === undefined) return false;
  try {
    return gateDigest({ kind: 'draft', draft: approvalDraft(s, { input: ctx.input, steps }) }) === approved;
  } catch {
    return false;
  }
}

/** Run one step of any kind and return its output text. */
async function runStep(
  ctx: GraphContext,
  s: StepDefinition,
  key: string,
  given: TemplateScope,
): Promise<string> {
  const scope = s.inputKey !== undefined ? pickInputKey(s, key, given) : given;
  switch (s.kind) {
    case 'agent':
      return s.fanOut ? runFanOut(ctx, s, key, scope) : runAgent(ctx, s, key, scope);
    case 'approval':
      return runApprovalStep(ctx.state, key, s, scope);
    case 'loop':
      return runLoop(ctx, s, key, scope);
    case 'ensemble':
      return runEnsembleStep(ctx, s, key, scope);
    case 'script':
      return runScriptStep(ctx.state, key, s, scope, ctx.options);
  }
}

/**
 * `inputKey`: the step sees one key of its first dependency's JSON output in place of the whole
 * output (llm-orc's `input_key`). Output that is not a JSON object, or lacks the key, fails the step.
 */
function pickInputKey(s: StepDefinition, key: string, scope: TemplateScope): TemplateScope {
  const dep = s.dependsOn[0];
  const wanted = s.inputKey!;
  const fail = (why: string) =>
    ApplicationFailure.create({
      type: 'InputKeyMissing',
      nonRetryable: true,
      message: `step '${key}' reads input_key '${wanted}' of step '${dep}', but ${why}`,
    });
  if (dep === undefined) throw fail('it depends on no step');
  const text = scope.steps[dep] ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw fail(`that output is not JSON (it starts: ${JSON.stringify(text.slice(0, 80))})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw fail('that output is not a JSON object');
  if (!Object.prototype.hasOwnProperty.call(parsed, wanted))
    throw fail(
      `that output has no such key (keys: ${Object.keys(parsed).slice(0, 20).join(', ') || 'none'})`,
    );
  const value = (parsed as Record<string, unknown>)[wanted];
  return {
    ...scope,
    steps: { ...scope.steps, [dep]: typeof value === 'string' ? value : JSON.stringify(value) },
  };
}

/**
 * A child ensemble: its steps run inside this run under `<key>/` (one ledger, one budget), on the
 * step's rendered prompt as input; its output step's output is this step's output. With a fan-out,
 * one child per item under `<key>[i]/`, and the output is the JSON array of the children's outputs.
 */
async function runEnsembleStep(
  ctx: GraphContext,
  s: EnsembleStep,
  key: string,
  scope: TemplateScope,
): Promise<string> {
  const child = async (input: string, prefix: string): Promise<string> => {
    const def = s.definition;
    // No `run`: resuming and continuing as new apply to the run's own top-level steps.
    const outputs = await runGraph(
      {
        state: ctx.state,
        input: input === '' && def.defaultInput !== undefined ? def.defaultInput : input,
        ...(ctx.options && { options: ctx.options }),
      },
      def.steps,
      {},
      prefix,
    );
    const out = def.output ?? def.steps[def.steps.length - 1]!.name;
    return outputs[out] ?? '';
  };
  if (!s.fanOut) return child(renderTemplate(s.prompt, scope), `${key}/`);
  const items = splitItems(scope.steps[s.fanOut.from] ?? '');
  const limit = s.fanOut.maxConcurrency;
  const results = await parallel(
    items,
    (item, i) =>
      child(
        renderTemplate(s.prompt, { ...scope, item, chunk: { index: i, total: items.length } }),
        `${key}[${i}]/`,
      ),
    limit ? { limit } : {},
  );
  return JSON.stringify(results);
}

/** `summary`: the model call's activity summary when not the step's key (a fan-out instance's `review[3]`). */
function runAgent(
  ctx: GraphContext,
  s: AgentStep,
  key: string,
  scope: TemplateScope,
  summary?: string,
): Promise<string> {
  const call = (step: AgentStep) =>
    step.tools?.length
      ? runToolAgent(ctx.state, key, step, scope, ctx.options, summary, ctx.run)
      : runAgentCall(ctx.state, key, step, scope, ctx.options, summary);
  // Long-term memory: a step with recall or remember adds its memory activities. Runs recorded
  // before memory existed had neither field, so they never reach the marker.
  if ((s.recall || s.remember) && patched(MEMORY_PATCH))
    return withMemory(s, summary ?? key, scope, ctx.options, call);
  return call(s);
}

/** One instance of the step per upstream item; the output is a JSON array of the instances' outputs. */
async function runFanOut(
  ctx: GraphContext,
  s: AgentStep,
  key: string,
  scope: TemplateScope,
): Promise<string> {
  const items = splitItems(scope.steps[s.fanOut!.from] ?? '');
  // Very wide maps run in child workflows, one per shard of items (docs/scale.md, shards.ts).
  const shardSize = await shardSizeFor(ctx, s, items.length);
  if (shardSize !== undefined) return JSON.stringify(await runShards(ctx, s, key, scope, items, shardSize));
  return JSON.stringify(await runFanOutItems(ctx, s, key, scope, items));
}

/**
 * Run a fan-out step's instances for `items` and return their outputs in order: all of the step's
 * items, or a shard's (`indexOf`: an item's index among all `total`). Outputs land in `outputs` as
 * they come, so a shard can say what it finished when an instance fails.
 */
export async function runFanOutItems(
  ctx: GraphContext,
  s: AgentStep,
  key: string,
  scope: TemplateScope,
  items: string[],
  at: { indexOf?: (i: number) => number; total?: number; outputs?: string[]; limit?: number } = {},
): Promise<string[]> {
  const limit = at.limit ?? s.fanOut!.maxConcurrency;
  const indexOf = at.indexOf ?? ((i: number) => i);
  const total = at.total ?? items.length;
  const outputs = at.outputs ?? new Array<string>(items.length);
  // Batch activities (docs/scale.md); asked only of steps with `batch`, so other runs get no marker.
  if (s.fanOut!.batch && !s.tools?.length && patched(BATCH_FAN_OUT_PATCH)) {
    const scopes = items.map((item) => ({ ...scope, item }));
    return runBatchFanOut(ctx.state, key, s, scopes, ctx.options, limit, indexOf, outputs);
  }
  return parallel(
    items,
    // Each instance's model call is `review[3]` in the Temporal UI: metadata only, not compared on replay.
    async (item, i) =>
      (outputs[i] = await runAgent(
        ctx,
        s,
        key,
        { ...scope, item, chunk: { index: indexOf(i), total } },
        `${key}[${indexOf(i)}]`,
      )),
    limit ? { limit } : {},
  );
}

/**
 * Repeat the body until `until` holds or `maxIterations` is reached. Each iteration sees
 * `{{loop.iteration}}` and `{{loop.previous}}` (the last body step's output of the iteration before).
 */
async function runLoop(ctx: GraphContext, s: LoopStep, key: string, scope: TemplateScope): Promise<string> {
  const last = s.body[s.body.length - 1]!.name;
  const resumed = ctx.run?.resume?.loops?.[key];
  let previous: string | undefined = resumed?.previous;
  for (let iteration = resumed?.iteration ?? 1; iteration <= s.maxIterations; iteration++) {
    // A step that failed elsewhere stops the run: no next iteration starts.
    ctx.state.gates.assertRunning(`loop '${key}' did not start iteration ${iteration}`);
    const loop = { iteration, ...(previous !== undefined && { previous }) };
    const outputs = await runGraph(ctx, s.body, scope.steps, `${key}/`, loop);
    previous = outputs[last] ?? previous;
    if (evaluateCondition(s.until, { ...scope.steps, ...outputs })) break;
    if (iteration < s.maxIterations)
      await maybeContinueAsNew(ctx, key, {
        iteration: iteration + 1,
        ...(previous !== undefined && { previous }),
      });
  }
  return previous ?? '';
}

/**
 * Keep a long loop's history small: between iterations, when history is long and this loop is
 * the only step running, continue the run as a new execution (same run id) that reuses every
 * completed step and resumes the loop at its next iteration.
 */
async function maybeContinueAsNew(
  ctx: GraphContext,
  key: string,
  next: { iteration: number; previous?: string },
): Promise<void> {
  if (!ctx.run) return;
  const info = workflowInfo();
  const limit = ctx.options?.continueAsNewAfterEvents;
  const due = info.continueAsNewSuggested || (limit !== undefined && info.historyLength >= limit);
  const running = ctx.state.running();
  if (!due || running.length !== 1 || running[0] !== key) return;
  const resume = ctx.state.continuation(
    { runId: info.runId, kind: 'continue-as-new' },
    { ...ctx.run.resume?.loops, [key]: next },
  );
  await continueAsNew<(input: RunInput) => Promise<RunResult>>({ ...ctx.run, resume });
}
