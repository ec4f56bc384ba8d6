import type { Pricing, Usage } from '../types';

/**
 * Cost in US dollars of one call: uncached input, cached input and output, each at its price per
 * million tokens. A profile without pricing costs nothing (and says so by its absence).
 *
 * @example costOf({ inputTokens: 1000, outputTokens: 500, cachedInputTokens: 0 }, { inputPerMTok: 3, outputPerMTok: 15 }) // 0.0105
 */
export function costOf(usage: Usage, pricing: Pricing | undefined): number {
  if (!pricing) return 0;
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const cachedPrice = pricing.cachedInputPerMTok ?? pricing.inputPerMTok;
  const dollars =
    ((usage.inputTokens - cached) * pricing.inputPerMTok +
      cached * cachedPrice +
      usage.outputTokens * pricing.outputPerMTok) /
    1_000_000;
  // Round to a millionth of a cent so sums across steps stay stable in JSON.
  return Math.round(dollars * 1e8) / 1e8;
}
