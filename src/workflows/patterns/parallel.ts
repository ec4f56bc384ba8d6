/**
 * Parallel fan-out / fan-in. Runs branches at once (up to a concurrency limit) inside any
 * workflow; each branch is usually one or more activities, so each result is recorded once.
 */

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
