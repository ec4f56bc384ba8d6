import { costOf } from '../../src/activities/cost';

test('prices uncached input, cached input and output apart', () => {
  const usage = { inputTokens: 1_000_000, outputTokens: 100_000, cachedInputTokens: 400_000 };
  expect(costOf(usage, { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3 })).toBeCloseTo(
    0.6 * 3 + 0.4 * 0.3 + 0.1 * 15,
    8,
  );
});
test('cached input defaults to the input price', () => {
  expect(
    costOf(
      { inputTokens: 1000, outputTokens: 0, cachedInputTokens: 500 },
      { inputPerMTok: 2, outputPerMTok: 0 },
    ),
  ).toBeCloseTo(0.002, 10);
});
test('no pricing costs nothing', () => {
  expect(costOf({ inputTokens: 10, outputTokens: 10, cachedInputTokens: 0 }, undefined)).toBe(0);
});
