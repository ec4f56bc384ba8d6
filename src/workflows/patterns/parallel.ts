/**
 * Parallel fan-out / fan-in. Runs branches at once (up to a concurrency limit) inside any
 * workflow; each branch is usually one or more activities, so each result is recorded once.
 * `parallel` and `runDag` are the helpers; `fanOut` and `mapAgent` are the pattern: agents as
 * branches, a partial-failure policy, and an optional join agent that sees every branch.
 */
import { describeError, type StepErrorInfo } from '../errors';
import { runAgent } from './agent';
import { invalidSpec, stepKey, type Agent, type AgentContext } from './context';

/** Outcome of one branch when failures are collected instead of failing fast. */
export type BranchOutcome<T> = { status: 'completed'; value: T } | { status: 'failed'; error: unknown };

/**
 * Map `fn` over `items` with at most `limit` running at once; results keep the items' order.
 * With `onError: 'fail-fast'` (default) the first failure is thrown once the branches already
 * running have settled, and no new branch starts; with `'collect'` every branch runs and each
 * outcome is returned.
 *
 * @example const reviews = await parallel(files, (f) => review(f), { limit: 10 });
 */
export async function parallel<I, T>(
  items: readonly I[],
  fn: (item: I, index: number) => Promise<T>,
  opts?: { limit?: number; onError?: 'fail-fast' },
): Promise<T[]>;
export async function parallel<I, T>(
  items: readonly I[],
  fn: (item: I, index: number) => Promise<T>,
  opts: { limit?: number; onError: 'collect' },
): Promise<BranchOutcome<T>[]>;
export async function parallel<I, T>(
  items: readonly I[],
  fn: (item: I, index: number) => Promise<T>,
  opts: { limit?: number; onError?: 'fail-fast' | 'collect' } = {},
): Promise<T[] | BranchOutcome<T>[]> {
  const limit = Math.max(1, Math.min(opts.limit ?? items.length, items.length || 1));
  const outcomes: BranchOutcome<T>[] = new Array(items.length);
  let next = 0;
  let failed: { error: unknown } | undefined;

  // `limit` lanes each take the next item until none is left (or, failing fast, one failed).
  const lane = async (): Promise<void> => {
    while (next < items.length && !(failed && opts.onError !== 'collect')) {
      const i = next++;
      try {
        outcomes[i] = { status: 'completed', value: await fn(items[i]!, i) };
      } catch (error) {
        outcomes[i] = { status: 'failed', error };
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));

  if (opts.onError === 'collect') return outcomes;
  if (failed) throw failed.error;
  return outcomes.map((o) => (o as { value: T }).value);
}

/** A node of a dependency graph: it may start once every node it depends on is done. */
export interface GraphNode {
  id: string;
  dependsOn: readonly string[];
}

/**
 * Run a dependency graph: each node starts as soon as the nodes it depends on are done (nodes
 * whose dependencies are done run at once, up to `limit`), in declared order among the ready
 * ones. `fn` sees the results so far. Fails fast like `parallel`: after a failure no node
 * starts, the running ones settle, and the first failure is thrown. A node that can never
 * start (a cycle, or a dependency that is not a node) is an error.
 *
 * @example const evidence = await runDag(plan, (step, done) => execute(step, done), { limit: 4 });
 */
export async function runDag<N extends GraphNode, T>(
  nodes: readonly N[],
  fn: (node: N, done: ReadonlyMap<string, T>) => Promise<T>,
  opts: { limit?: number } = {},
): Promise<Map<string, T>> {
  const limit = Math.max(1, opts.limit ?? nodes.length);
  const done = new Map<string, T>();
  const running = new Map<string, Promise<void>>();
  let pending = [...nodes];
  let failed: { error: unknown } | undefined;
  const ready = (n: N) => n.dependsOn.every((d) => done.has(d));

  for (;;) {
    if (!failed) {
      for (const node of pending.filter(ready)) {
        if (running.size >= limit) break;
        pending = pending.filter((p) => p !== node);
        const run = fn(node, done).then(
          (value) => void done.set(node.id, value),
          (error: unknown) => void (failed ??= { error }),
        );
        running.set(
          node.id,
          run.finally(() => running.delete(node.id)),
        );
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (failed) throw failed.error;
  if (pending.length) {
    throw invalidSpec(
      `nodes ${pending.map((p) => `'${p.id}'`).join(', ')} can never start: they depend on each other or on a missing node`,
    );
  }
  return done;
}

/** One branch of a fan-out, as the result reports it. */
export interface BranchResult {
  name: string;
  status: 'completed' | 'failed';
  output?: string;
  error?: StepErrorInfo;
}

export interface FanOutOptions {
  /** Branches running at once (default: all). */
  limit?: number;
  /**
   * `fail-fast` (default): the first failure fails the fan-out (no new branch starts; running
   * ones finish and keep their results in progress). `collect`: every branch runs, and each is
   * reported with its status; the join sees the ones that completed.
   */
  onError?: 'fail-fast' | 'collect';
  /**
   * Fan-in: an agent that reads every branch. Its prompt may use `{{input}}` and `{{branches}}`
   * (each branch's output under a `## name` heading, failed ones marked); default: both.
   */
  join?: Agent;
}

export interface FanOutResult {
  /** The join's output; without a join, the `{{branches}}` text. */
  output: string;
  branches: BranchResult[];
}

interface Branch {
  name: string;
  run: () => Promise<string>;
}

/** Each branch under a `## name` heading; a failed one says why. */
export function branchesText(branches: readonly BranchResult[]): string {
  return branches
    .map((b) =>
      b.status === 'completed'
        ? `## ${b.name}\n${b.output ?? ''}`
        : `## ${b.name} (failed: ${b.error?.type}: ${b.error?.message})`,
    )
    .join('\n\n');
}

async function runBranches(
  ctx: AgentContext,
  branches: Branch[],
  input: string,
  opts: FanOutOptions,
): Promise<FanOutResult> {
  const limit = opts.limit !== undefined ? { limit: opts.limit } : {};
  let results: BranchResult[];
  let firstFailure: unknown;
  if (opts.onError === 'collect') {
    const outcomes = await parallel(branches, (b) => b.run(), { ...limit, onError: 'collect' });
    firstFailure = outcomes.find((o) => o.status === 'failed')?.error;
    results = outcomes.map((o, i) =>
      o.status === 'completed'
        ? { name: branches[i]!.name, status: 'completed', output: o.value }
        : { name: branches[i]!.name, status: 'failed', error: describeError(o.error) },
    );
  } else {
    const outputs = await parallel(branches, (b) => b.run(), limit);
    results = outputs.map((output, i) => ({ name: branches[i]!.name, status: 'completed', output }));
  }
  const text = branchesText(results);
  if (!opts.join) return { output: text, branches: results };
  // Nothing to join: fail with the first branch's own error (it names the branch).
  if (firstFailure !== undefined && !results.some((r) => r.status === 'completed'))
    throw firstFailure as Error;
  const vars: Record<string, string> = { branches: text };
  const output = await runAgent(ctx, opts.join, input, {
    vars,
    defaultPrompt: '{{input}}\n\n{{branches}}',
    role: 'join',
  });
  return { output, branches: results };
}

/**
 * Sectioning: run different agents on the same input at once, then (optionally) join them.
 *
 * @example
 * const review = await fanOut(ctx, [security, style, tests], code, {
 *   limit: 2, onError: 'collect', join: { name: 'summary', profile, prompt: 'Merge these reviews:\n{{branches}}' },
 * });
 */
export async function fanOut(
  ctx: AgentContext,
  agents: Agent[],
  input: string,
  opts: FanOutOptions = {},
): Promise<FanOutResult> {
  const names = new Set(agents.map((a) => a.name));
  if (names.size !== agents.length) throw invalidSpec('fanOut: branch agents need distinct names');
  return runBranches(
    ctx,
    agents.map((a) => ({ name: a.name, run: () => runAgent(ctx, a, input, { role: 'branch' }) })),
    input,
    opts,
  );
}

/**
 * Map: run one agent once per item (its prompt reads `{{item}}`, and `{{input}}`), at most
 * `limit` at once, then (optionally) join. Branches show in progress as `name[1]`, `name[2]`...
 *
 * @example const summaries = await mapAgent(ctx, summarise, chapters, book, { limit: 5 });
 */
export async function mapAgent(
  ctx: AgentContext,
  agent: Agent,
  items: readonly string[],
  input: string,
  opts: FanOutOptions = {},
): Promise<FanOutResult> {
  return runBranches(
    ctx,
    items.map((item, i) => {
      const name = `${agent.name}[${i + 1}]`;
      return {
        name,
        run: () =>
          runAgent(
            ctx,
            agent,
            { input, steps: {}, item },
            { key: stepKey(ctx, name), defaultPrompt: '{{item}}', role: 'branch' },
          ),
      };
    }),
    input,
    opts,
  );
}
