import { ApplicationFailure } from '@temporalio/common';
import type { ModelProfile } from '../../src/types';
import {
  CHARS_PER_TOKEN,
  DEFAULT_RESERVED_OUTPUT_TOKENS,
  Ledger,
  checkBudgetDecision,
  moneyOf,
  shareOf,
  worstCaseOf,
} from '../../src/workflows/ledger';
import { lineageSpentOf } from '../../src/client';
import { loadEnsembleText } from '../../src/config/load';

const profile: ModelProfile = { name: 'p', provider: 'openai', model: 'm', maxTokens: 100 };
const priced: ModelProfile = { ...profile, pricing: { inputPerMTok: 1, outputPerMTok: 10 } };

describe('worstCaseOf: the reservation of one call', () => {
  it('counts the request as sent at 3 characters a token, rounded up, plus max_tokens', () => {
    const req = { profile, messages: [{ role: 'user' as const, content: 'x'.repeat(100) }] };
    const chars = JSON.stringify({ messages: req.messages }).length;
    expect(worstCaseOf(req)).toEqual({ tokens: Math.ceil(chars / CHARS_PER_TOKEN) + 100, costUsd: 0 });
  });

  it("counts a conversation kept in the payload store (a ReAct agent's) as sent", () => {
    const req = { profile, messages: [{ role: 'user' as const, content: 'x'.repeat(100) }] };
    const earlier = { $ref: 'sha256/ab/ab', bytes: 10, sha256: 'ab', messages: 600, chars: 6_000_000 };
    expect(worstCaseOf({ ...req, earlier }).tokens - worstCaseOf(req).tokens).toBe(
      Math.ceil((JSON.stringify({ messages: req.messages }).length + 6_000_000) / CHARS_PER_TOKEN) -
        Math.ceil(JSON.stringify({ messages: req.messages }).length / CHARS_PER_TOKEN),
    );
  });

  it('counts tool schemas and the response schema, and is deterministic', () => {
    const base = { profile, messages: [{ role: 'user' as const, content: 'hi' }] };
    const tools = [{ name: 'search', description: 'find things', parameters: { type: 'object' } }];
    const a = worstCaseOf(base).tokens;
    expect(worstCaseOf({ ...base, tools }).tokens).toBeGreaterThan(a);
    expect(
      worstCaseOf({ ...base, responseFormat: { name: 'o', schema: { type: 'object' } } }).tokens,
    ).toBeGreaterThan(a);
    expect(worstCaseOf({ ...base, tools })).toEqual(worstCaseOf({ ...base, tools }));
  });

  it('reserves the documented default output when the profile sets no max_tokens', () => {
    const { maxTokens: _none, ...noMax } = profile;
    const req = { profile: noMax, messages: [{ role: 'user' as const, content: '' }] };
    const input = Math.ceil(JSON.stringify({ messages: req.messages }).length / 3);
    expect(worstCaseOf(req).tokens).toBe(input + DEFAULT_RESERVED_OUTPUT_TOKENS);
  });

  it("prices input and max_tokens at the profile's prices, never below the real price", () => {
    const req = { profile: priced, messages: [{ role: 'user' as const, content: 'x'.repeat(290) }] };
    const input = Math.ceil(JSON.stringify({ messages: req.messages }).length / 3);
    expect(worstCaseOf(req).costUsd).toBeCloseTo((input * 1 + 100 * 10) / 1e6, 10);
    // A dearer cached price (a cache write) is the worst case for input.
    const cached = { ...priced, pricing: { ...priced.pricing!, cachedInputPerMTok: 2 } };
    expect(worstCaseOf({ ...req, profile: cached }).costUsd).toBeCloseTo((input * 2 + 1000) / 1e6, 10);
  });
});

describe('Ledger: reserve and settle', () => {
  it('reserves while spent + reserved + need stays within the limit, then refuses', () => {
    const l = new Ledger({ maxTokens: 500 });
    const rs = [1, 2, 3, 4, 5].map(() => l.tryReserve({ tokens: 100, costUsd: 0 }));
    expect(rs.every(Boolean)).toBe(true);
    expect(l.tryReserve({ tokens: 1, costUsd: 0 })).toBeUndefined();
    expect(l.reserved).toEqual({ tokens: 500, costUsd: 0 });
    expect(l.spent).toEqual({ tokens: 0, costUsd: 0 });
  });

  it('settling gives back the reservation and counts the real spending', () => {
    const l = new Ledger({ maxCostUsd: 0.05 });
    const a = l.tryReserve({ tokens: 10, costUsd: 0.03 })!;
    expect(l.tryReserve({ tokens: 10, costUsd: 0.03 })).toBeUndefined();
    l.settle(a, { tokens: 5, costUsd: 0.01 });
    expect(l.spent).toEqual({ tokens: 5, costUsd: 0.01 });
    expect(l.reserved).toEqual({ tokens: 0, costUsd: 0 });
    expect(l.tryReserve({ tokens: 10, costUsd: 0.03 })).toBeDefined();
    expect(l.available().costUsd).toBeCloseTo(0.01, 10);
  });

  it('a settlement above the reservation counts in full; settling twice gives back once', () => {
    const l = new Ledger({ maxTokens: 100 });
    const r = l.tryReserve({ tokens: 40, costUsd: 0 })!;
    l.settle(r, { tokens: 60, costUsd: 0 });
    l.settle(r, { tokens: 0, costUsd: 0 });
    expect(l.spent.tokens).toBe(60);
    expect(l.reserved.tokens).toBe(0);
  });

  it('release gives a reservation back unspent', () => {
    const l = new Ledger({ maxTokens: 100 });
    l.release(l.tryReserve({ tokens: 100, costUsd: 0 }));
    expect(l.spent.tokens).toBe(0);
    expect(l.fits({ tokens: 100, costUsd: 0 })).toBe(true);
  });

  it('dollars add without float drift', () => {
    const l = new Ledger({ maxCostUsd: 0.3 });
    l.settle(l.tryReserve({ tokens: 0, costUsd: 0.1 }), { tokens: 0, costUsd: 0.1 });
    l.settle(l.tryReserve({ tokens: 0, costUsd: 0.2 }), { tokens: 0, costUsd: 0.2 });
    expect(l.spent.costUsd).toBe(0.3);
    expect(l.fits({ tokens: 0, costUsd: 0 })).toBe(true);
    expect(l.fits({ tokens: 0, costUsd: 0.00000001 })).toBe(false);
  });

  it('without limits everything fits and spending is still counted', () => {
    const l = new Ledger();
    expect(l.limited).toBe(false);
    l.settle(l.reserve({ tokens: 1e9, costUsd: 1e3 }), { tokens: 7, costUsd: 0.5 });
    expect(l.spent).toEqual({ tokens: 7, costUsd: 0.5 });
    expect(l.view()).toEqual({ spent: { tokens: 7, costUsd: 0.5 }, reserved: { tokens: 0, costUsd: 0 } });
  });

  it('raise replaces only the limits given; carry counts spending from before', () => {
    const l = new Ledger({ maxCostUsd: 1, maxTokens: 10 });
    l.raise({ maxTokens: 20 });
    expect(l.limit).toEqual({ maxCostUsd: 1, maxTokens: 20 });
    l.carry({ tokens: 15, costUsd: 0.5 });
    expect(l.fits({ tokens: 5, costUsd: 0 })).toBe(true);
    expect(l.fits({ tokens: 6, costUsd: 0 })).toBe(false);
  });

  it('describe names the spent and the limit that the next call would cross', () => {
    const l = new Ledger({ maxCostUsd: 0.05, maxTokens: 1000 });
    l.carry({ tokens: 100, costUsd: 0.04 });
    expect(l.describe({ tokens: 10, costUsd: 0.02 })).toBe('spent $0.04 of max_cost_usd $0.05');
    expect(l.describe()).toBe('spent $0.04 of max_cost_usd $0.05, used 100 tokens of max_tokens 1000');
  });

  it('shareOf splits what is left equally; an unlimited dimension stays unlimited', () => {
    const l = new Ledger({ maxTokens: 1000 });
    l.carry({ tokens: 100, costUsd: 0.5 });
    expect(shareOf(l, 3)).toEqual({ tokens: 300, costUsd: Infinity });
  });

  it('moneyOf counts input plus output tokens', () => {
    expect(moneyOf({ inputTokens: 3, outputTokens: 4, cachedInputTokens: 2 }, 0.1)).toEqual({
      tokens: 7,
      costUsd: 0.1,
    });
  });
});

describe('checkBudgetDecision', () => {
  const gate = {
    gate: 'budget',
    kind: 'budget' as const,
    budget: {
      limit: { maxCostUsd: 0.05 },
      spent: { tokens: 10, costUsd: 0.05 },
      reserved: { tokens: 0, costUsd: 0 },
      needed: { tokens: 5, costUsd: 0.01 },
    },
  };
  const refused = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ApplicationFailure);
      expect((e as ApplicationFailure).type).toBe('InvalidDecision');
      return (e as Error).message;
    }
    throw new Error('not refused');
  };

  it('returns the new limits of an approval', () => {
    expect(checkBudgetDecision({ outcome: 'approved', budget: { maxCostUsd: 1 } }, gate)).toEqual({
      maxCostUsd: 1,
    });
    expect(checkBudgetDecision({ outcome: 'rejected' }, gate)).toBeUndefined();
  });

  it('refuses an approval without a new limit, a limit that does not raise, and bad numbers', () => {
    expect(refused(() => checkBudgetDecision({ outcome: 'approved' }, gate))).toMatch(/needs the new limit/);
    expect(
      refused(() => checkBudgetDecision({ outcome: 'approved', budget: { maxCostUsd: 0.04 } }, gate)),
    ).toMatch(/does not raise the budget: spent \$0.05 of max_cost_usd \$0.05/);
    expect(
      refused(() => checkBudgetDecision({ outcome: 'approved', budget: { maxTokens: 1.5 } }, gate)),
    ).toMatch(/whole number/);
    expect(
      refused(() => checkBudgetDecision({ outcome: 'approved', budget: { max_cost_usd: 1 } }, gate)),
    ).toMatch(/unknown field 'max_cost_usd'/);
  });

  it('refuses a budget on another kind of gate, and with a rejection', () => {
    expect(
      refused(() =>
        checkBudgetDecision(
          { outcome: 'approved', budget: { maxCostUsd: 1 } },
          { gate: 'ship', kind: 'draft' },
        ),
      ),
    ).toMatch(/not a budget gate/);
    expect(checkBudgetDecision({ outcome: 'approved' }, { gate: 'ship', kind: 'draft' })).toBeUndefined();
    expect(
      refused(() => checkBudgetDecision({ outcome: 'rejected', budget: { maxCostUsd: 1 } }, gate)),
    ).toMatch(/goes with "approved"/);
  });
});

describe('lineageSpentOf', () => {
  const usage = { inputTokens: 1, outputTokens: 2, cachedInputTokens: 0 };
  it("adds the parent's own spending and its lineage, once", () => {
    const reserved = { tokens: 0, costUsd: 0 };
    expect(lineageSpentOf({ usage, costUsd: 0.1 })).toEqual({ tokens: 3, costUsd: 0.1 });
    expect(
      lineageSpentOf({
        usage,
        costUsd: 0,
        budget: { spent: { tokens: 5, costUsd: 0.2 }, reserved, lineage: { tokens: 3, costUsd: 0.1 } },
      }),
    ).toEqual({ tokens: 8, costUsd: 0.3 });
    expect(
      lineageSpentOf({
        usage,
        costUsd: 0,
        budget: {
          spent: { tokens: 8, costUsd: 0.3 },
          reserved,
          lineage: { tokens: 3, costUsd: 0.1 },
          lineageCounted: true,
        },
      }),
    ).toEqual({ tokens: 8, costUsd: 0.3 });
  });
});

describe('budget in YAML', () => {
  const yaml = (budget: string) => `
name: capped
default_profile: offline
budget: ${budget}
agents:
  - name: a
    prompt: '{{input}}'
`;
  it('reads gate_deadline and on_exceeded', () => {
    const def = loadEnsembleText(
      yaml('{ max_cost_usd: 0.5, max_tokens: 1000, gate_deadline: 4h, on_exceeded: fail }'),
      'capped.yaml',
    );
    expect(def.budget).toEqual({ maxCostUsd: 0.5, maxTokens: 1000, gateDeadline: '4h', onExceeded: 'fail' });
  });
  it('refuses an unknown field and a bad on_exceeded, naming the fields', () => {
    expect(() => loadEnsembleText(yaml('{ max_calls: 5 }'), 'capped.yaml')).toThrow(
      /unknown field 'max_calls' in budget \(fields: max_cost_usd, max_tokens, gate_deadline, on_exceeded\)/,
    );
    expect(() => loadEnsembleText(yaml('{ max_tokens: 5, on_exceeded: stop }'), 'capped.yaml')).toThrow(
      /budget\.on_exceeded/,
    );
  });
});
