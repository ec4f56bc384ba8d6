import { parallel } from '../../src/workflows/patterns/parallel';

const tick = () => new Promise((r) => setImmediate(r));

test('keeps order and never runs more than the limit at once', async () => {
  let running = 0;
  let peak = 0;
  const out = await parallel(
    [1, 2, 3, 4, 5, 6, 7],
    async (n) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
      return n * 10;
    },
    { limit: 3 },
  );
  expect(out).toEqual([10, 20, 30, 40, 50, 60, 70]);
  expect(peak).toBe(3);
});

test('fail-fast throws the first failure and starts nothing after it', async () => {
  const started: number[] = [];
  const err = await parallel(
    [1, 2, 3, 4],
    async (n) => {
      started.push(n);
      await tick();
      if (n === 1) throw new Error('one failed');
      return n;
    },
    { limit: 2 },
  ).catch((e: Error) => e);
  expect((err as Error).message).toBe('one failed');
  expect(started).toEqual([1, 2]);
});

test('collect runs every branch and reports each outcome', async () => {
  const out = await parallel(
    ['a', 'b', 'c'],
    async (s) => {
      if (s === 'b') throw new Error('b failed');
      return s.toUpperCase();
    },
    { onError: 'collect' },
  );
  expect(out[0]).toEqual({ status: 'completed', value: 'A' });
  expect(out[1]!.status).toBe('failed');
  expect(out[2]).toEqual({ status: 'completed', value: 'C' });
});

test('an empty list is an empty result', async () => {
  expect(await parallel([], async () => 1)).toEqual([]);
});
