/**
 * Sharded fan-out (docs/scale.md): a fan-out over more items than its shard size runs its
 * instances in child workflows (`batonFanOutShard`), one per shard of items, each running its
 * items the way the run would (batch activities included). The run's history then holds only the
 * shards' starts and results, whatever the width. Money stays on the run's one ledger: each shard
 * gets an allowance from it and gives back what it did not spend; a shard that runs out of
 * allowance returns what it finished, and the rest of its items go to a new shard once the ledger
 * has room again (waiting at the run's one budget gate when it has none). Workflow code only.
 */
import {
  ApplicationFailure,
  executeChild,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AgentStep, Budget, McpServerDeclaration, ModelRequest, Usage } from '../types';
import { ZERO_USAGE } from '../types';
import { BUDGET_EXCEEDED, SEARCH_ATTRIBUTES, progressQuery, type RunOptions, type StepProgress } from './api';
import { installApprovalHandlers } from './approval';
import { runFanOutItems, type GraphContext } from './ensemble';
import { describeError, type StepErrorInfo } from './errors';
import { acquireAllowance, shareOf, worstCaseOf, type Money } from './ledger';
import { RunState } from './run-state';
import { loadTools } from './patterns/tools';
import { agentMessages } from './step';
import { scanTemplate, type TemplateScope } from './template';

/** Marks runs whose wide fan-outs run in shard child workflows; asked only of fan-outs wider than their shard size. */
export const FAN_OUT_SHARDS_PATCH = 'baton-fan-out-shards';
/** Items per shard when the step gives no `shard` (docs/scale.md). */
export const DEFAULT_SHARD_SIZE = 1000;
/** The workflow type of a shard; the worker registers it (src/workflows/index.ts exports it). */
export const SHARD_WORKFLOW = 'batonFanOutShard';

/** Input of one shard: the step, its scope without the item, and its items with their places among all. */
export interface ShardInput {
  /** The run's ensemble name. */
  name: string;
  /** The step's key in the run (progress, summaries, idempotency keys). */
  key: string;
  step: AgentStep;
  scope: TemplateScope;
  items: string[];
  /** Each item's index among all the step's items. */
  indices: number[];
  /** How many items the step has in all (`{{total_chunks}}`). */
  total: number;
  /** Calls in flight at once in this shard. */
  limit?: number;
  options?: RunOptions;
  /** The shard's allowance from the run's ledger (`onExceeded: 'fail'`). */
  budget?: Budget;
  mcpServers?: Record<string, McpServerDeclaration>;
}

/** What a shard did: each item's output (null: not finished), what it spent, and why it stopped early. */
export interface ShardResult {
  outputs: (string | null)[];
  /** The first failure of an instance; with `budgetStopped` the shard ran out of allowance. */
  error?: StepErrorInfo;
  budgetStopped?: boolean;
  calls: number;
  toolCalls: number;
  usage: Usage;
  costUsd: number;
  spent: Money;
}

/**
 * One shard of a wide fan-out, as its own workflow (with its own progress query). Returns what it
 * finished also when an instance failed: the run decides what that means.
 */
export async function batonFanOutShard(input: ShardInput): Promise<ShardResult> {
  const state = new RunState(input.name, input.budget);
  if (input.mcpServers) state.mcpServers = input.mcpServers;
  setHandler(progressQuery, () => state.bounded());
  installApprovalHandlers(state);
  const outputs = new Array<string>(input.items.length);
  let error: StepErrorInfo | undefined;
  state.start(input.key);
  const ctx: GraphContext = {
    state,
    input: input.scope.input,
    ...(input.options && { options: input.options }),
  };
  try {
    await runFanOutItems(ctx, input.step, input.key, input.scope, input.items, {
      indexOf: (i) => input.indices[i]!,
      total: input.total,
      outputs,
      ...(input.limit !== undefined && { limit: input.limit }),
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    error = describeError(err);
  }
  const p = state.snapshot();
  const step = p.steps.find((s) => s.name === input.key);
  return {
    outputs: input.items.map((_, i) => (i in outputs ? outputs[i]! : null)),
    ...(error && { error }),
    ...(error?.type === BUDGET_EXCEEDED && input.budget?.onExceeded === 'fail' && { budgetStopped: true }),
    calls: step?.calls ?? 0,
    toolCalls: step?.toolCalls ?? 0,
    usage: p.usage,
    costUsd: p.costUsd,
    spent: state.ledger.spent,
  };
}

/**
 * The shard size of a fan-out step over `n` items, or undefined when it runs in the run itself:
 * `n` not over the size, `shard: false`, or a run recorded before shards (marker asked only then).
 */
export function shardSizeOf(s: AgentStep, n: number): number | undefined {
  const shard = s.fanOut?.shard;
  if (shard === false) return undefined;
  const size = Math.max(1, shard?.size ?? DEFAULT_SHARD_SIZE);
  if (n <= size) return undefined;
  return patched(FAN_OUT_SHARDS_PATCH) ? size : undefined;
}

/**
 * Marks runs that keep in the run the wide fan-outs whose instances could open an approval gate (a
 * tool that requires approval) or write memory under a run id: a shard is its own workflow, whose
 * gates the run's approvals would not list and whose id memory would record as the source run.
 * Asked only of such steps once they would shard, so other runs' histories are unchanged.
 */
export const UNSHARDED_GATES_PATCH = 'baton-fan-out-shards-keep-gates';

/**
 * The shard size of a fan-out step over `n` items (see shardSizeOf), or undefined also when one
 * of its instances could open an approval gate or uses memory: those run in the run, as before
 * shards. Whether a tool requires approval is the step's tool list's or the worker's registry's
 * word, so a step with tools reads its tools' descriptions once (one local activity) to decide.
 */
export async function shardSizeFor(ctx: GraphContext, s: AgentStep, n: number): Promise<number | undefined> {
  const size = shardSizeOf(s, n);
  if (size === undefined) return undefined;
  const memory = s.recall !== undefined || s.remember !== undefined;
  if (!memory && !s.tools?.length) return size;
  if (!patched(UNSHARDED_GATES_PATCH)) return size;
  if (memory) return undefined;
  const tools = await loadTools(s.tools, ctx.state.mcpServers);
  return tools.gated.size > 0 ? undefined : size;
}

/** How many times each step key has sharded in this run (a fan-out in a loop body shards each iteration). */
const rounds = new WeakMap<RunState, Map<string, number>>();

/**
 * Run a fan-out step's items in shards of `size` items, each a child workflow; returns each item's
 * output in order. `max_concurrency` caps calls in flight across all shards. Fails like the
 * unsharded fan-out: after a failed instance no new shard starts, running ones finish, and the
 * first failure (naming its instance) is thrown.
 */
export async function runShards(
  ctx: GraphContext,
  s: AgentStep,
  key: string,
  scope: TemplateScope,
  items: string[],
  size: number,
): Promise<string[]> {
  const state = ctx.state;
  const n = items.length;
  const count = Math.ceil(n / size);
  const limit = s.fanOut!.maxConcurrency;
  const lanes = limit ? Math.max(1, Math.min(count, Math.floor(limit / size))) : count;
  const childLimit = limit ? Math.max(1, Math.floor(limit / lanes)) : undefined;
  const outputs = new Array<string>(n);

  const seen = rounds.get(state) ?? new Map<string, number>();
  rounds.set(state, seen);
  const round = (seen.get(key) ?? 0) + 1;
  seen.set(key, round);
  const base = `${workflowInfo().workflowId}/${key}${round > 1 ? `@${round}` : ''}`;
  const ensemble = workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.ensemble);
  const childScope = shardScope(s, scope);

  let next = 0;
  let done = 0;
  let itemsDone = 0;
  let holding = 0;
  let failed: { error: unknown } | undefined;
  const show = () => state.setShards(key, { total: count, done, items: n, itemsDone });
  show();

  const runShard = async (k: number): Promise<void> => {
    let remaining = Array.from({ length: Math.min(n, (k + 1) * size) - k * size }, (_, i) => k * size + i);
    // A shard that ran out of allowance before finishing any item (its calls cost more than the
    // first call's estimate, e.g. with tool schemas) gets twice as much the next time.
    let grow = 1;
    for (let part = 0; remaining.length > 0; part++) {
      if (failed) return;
      state.gates.assertRunning(`step '${key}' started no further shard`);
      // The shard's allowance: at least its first call's worst case, else an equal part of what
      // is left among the shards about to run. Waits at the run's budget gate when nothing fits.
      const at = remaining[0]!;
      const first = worstCaseOf(requestOf(s, { ...scope, item: items[at]!, chunk: { index: at, total: n } }));
      const need = { tokens: first.tokens * grow, costUsd: Math.ceil(first.costUsd * grow * 1e8) / 1e8 };
      const wanting = Math.max(1, Math.min(lanes, count - done) - holding);
      const allowance = await acquireAllowance(state, key, need, shareOf(state.ledger, wanting));
      if (failed) {
        state.ledger.release(allowance.reservation);
        return;
      }
      holding++;
      const input: ShardInput = {
        name: state.name,
        key,
        step: s,
        scope: childScope,
        items: remaining.map((i) => items[i]!),
        indices: remaining,
        total: n,
        ...(childLimit !== undefined && { limit: childLimit }),
        // The shard's calls stream under the run's id (docs/streaming.md), as the run's own do.
        options: { ...ctx.options, streamRunId: ctx.options?.streamRunId ?? workflowInfo().workflowId },
        ...(allowance.budget && { budget: allowance.budget }),
        ...(state.mcpServers && { mcpServers: state.mcpServers }),
      };
      const last = remaining[remaining.length - 1]!;
      let res: ShardResult;
      try {
        res = await executeChild<typeof batonFanOutShard>(SHARD_WORKFLOW, {
          workflowId: `${base}/shard-${k}${part > 0 ? `.${part}` : ''}`,
          args: [input],
          staticSummary: `${key}[${at}..${last}]: ${remaining.length} items`,
          ...(ensemble !== undefined && {
            typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.ensemble, value: ensemble }],
          }),
        });
      } catch (err) {
        // Cancelled, terminated or timed out: what it spent is unknown, so all of its allowance counts.
        holding--;
        state.ledger.settle(allowance.reservation, allowance.amount);
        throw err;
      }
      holding--;
      state.ledger.settle(allowance.reservation, res.spent);
      state.recordChild(key, {
        usage: res.usage,
        costUsd: res.costUsd,
        steps: [childStep(key, res)],
      });
      const left: number[] = [];
      for (const [j, i] of remaining.entries()) {
        const out = res.outputs[j];
        if (out === null || out === undefined) left.push(i);
        else {
          outputs[i] = out;
          itemsDone++;
        }
      }
      grow = left.length === remaining.length ? grow * 2 : 1;
      remaining = left;
      if (res.error && !res.budgetStopped) {
        failed ??= {
          error: ApplicationFailure.create({
            type: res.error.type,
            nonRetryable: true,
            message: res.error.message,
          }),
        };
      }
      if (remaining.length === 0) done++;
      show();
    }
  };

  const lane = async (): Promise<void> => {
    while (next < count && !failed) {
      const k = next++;
      try {
        await runShard(k);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed) throw failed.error;
  return outputs;
}

function requestOf(s: AgentStep, scope: TemplateScope): ModelRequest {
  const req: ModelRequest = { profile: s.profile, messages: agentMessages(s, scope) };
  if (s.outputSchema) req.responseFormat = { name: 'output', schema: s.outputSchema };
  return req;
}

function childStep(key: string, res: ShardResult): StepProgress {
  return {
    name: key,
    kind: 'agent',
    status: 'completed',
    calls: res.calls,
    ...(res.toolCalls > 0 && { toolCalls: res.toolCalls }),
    usage: res.usage ?? { ...ZERO_USAGE },
    costUsd: res.costUsd,
  };
}

/**
 * The scope a shard gets: the step's, without the list its items came from unless one of the
 * step's templates reads it (every shard's start is in the run's history, so the whole list
 * would be recorded once per shard).
 */
function shardScope(s: AgentStep, scope: TemplateScope): TemplateScope {
  const from = s.fanOut!.from;
  const templates: string[] = [s.prompt, ...(s.system !== undefined ? [s.system] : [])];
  const collect = (v: unknown): void => {
    if (typeof v === 'string') templates.push(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) collect(x);
  };
  collect(s.recall);
  collect(s.remember);
  const reads = templates.some((t) => scanTemplate(t).refs.some((r) => r.kind === 'step' && r.name === from));
  if (reads || !(from in scope.steps)) return scope;
  const steps = { ...scope.steps };
  delete steps[from];
  return { ...scope, steps };
}
