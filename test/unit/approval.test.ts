import { ApplicationFailure } from '@temporalio/common';
import { BATON_SEARCH_ATTRIBUTES } from '../../src/server/search-attributes';
import { DECISION_REFUSED, SEARCH_ATTRIBUTES } from '../../src/workflows/api';
import { durationMs, rejectionMessage, shorten } from '../../src/workflows/approval';
import { gateDigest, sha256Hex } from '../../src/workflows/digest';
import type { GateToOpen } from '../../src/workflows/gates';
import { RunState } from '../../src/workflows/run-state';

const NOW = '2025-01-31T12:00:00.000Z';

function gate(over: Partial<GateToOpen> = {}): GateToOpen {
  return {
    gate: 'ship',
    step: 'ship',
    kind: 'draft',
    summary: 'the draft',
    draft: 'the draft',
    since: '2025-01-31T11:00:00.000Z',
    deadline: '2025-01-31T13:00:00.000Z',
    onTimeout: 'reject',
    ...over,
  };
}

const toolGate = () =>
  gate({
    gate: 'agent:send_email:1',
    step: 'agent',
    kind: 'tool',
    draft: undefined,
    tool: { name: 'send_email', arguments: { to: 'a@b.c' } },
  });

/** The refusal a decision gets: its failure type and message. */
function refusal(state: RunState, input: unknown): { type: string; message: string } {
  try {
    state.gates.check(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect(f.nonRetryable).toBe(true);
    return { type: f.type!, message: f.message };
  }
  throw new Error('the decision was accepted');
}

describe('gate ids', () => {
  test('a repeated gate id gets #2, #3 so every gate of a run has its own id', () => {
    const s = new RunState('r');
    expect(s.gates.id('loop/review')).toBe('loop/review');
    expect(s.gates.id('loop/review')).toBe('loop/review#2');
    expect(s.gates.id('loop/review')).toBe('loop/review#3');
    expect(s.gates.id('other')).toBe('other');
  });

  test('an id a caller took by hand is skipped', () => {
    const s = new RunState('r');
    s.gates.open(gate({ gate: 'x#2' }));
    expect(s.gates.id('x')).toBe('x');
    expect(s.gates.id('x')).toBe('x#3');
  });
});

describe('checking a decision', () => {
  test('a valid approval names its gate and step and is cleaned up', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    expect(
      s.gates.check({ gate: 'ship', outcome: 'approve', by: '  alice ', comment: 'fine', decidedAt: NOW }),
    ).toEqual({
      gate: 'ship',
      step: 'ship',
      outcome: 'approved',
      by: 'alice',
      comment: 'fine',
      decidedAt: NOW,
      digest: gateDigest({ kind: 'draft', draft: 'the draft' }),
    });
  });

  test('checking records nothing', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    s.gates.check({ outcome: 'approved', by: 'alice' });
    expect(s.gates.decisionFor('ship')).toBeUndefined();
    expect(s.gates.pending()).toHaveLength(1);
  });

  test('the gate may be left out when exactly one waits', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    expect(s.gates.check({ outcome: 'rejected', by: 'bob' }).gate).toBe('ship');
  });

  test('leaving the gate out with two waiting is refused, listing both', () => {
    const s = new RunState('r');
    s.gates.open(gate({ gate: 'a', step: 'a' }));
    s.gates.open(gate({ gate: 'b', step: 'b' }));
    expect(refusal(s, { outcome: 'approved', by: 'x' })).toEqual({
      type: DECISION_REFUSED.gateRequired,
      message: "2 gates are waiting, name one: 'a', 'b'",
    });
  });

  test('an unknown gate is refused, saying what waits', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    expect(refusal(s, { gate: 'nope', outcome: 'approved', by: 'x' })).toEqual({
      type: DECISION_REFUSED.unknownGate,
      message: "no gate 'nope' waits in this run (waiting: 'ship')",
    });
    expect(refusal(new RunState('r'), { outcome: 'approved', by: 'x' }).type).toBe(
      DECISION_REFUSED.unknownGate,
    );
  });

  test('a decided gate is refused as already decided, and the first decision stands', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    const first = s.gates.decide(
      { gate: 'ship', outcome: 'approved', by: 'alice', decidedAt: NOW },
      'update',
      'later',
    );
    expect(first.decidedAt).toBe(NOW);
    const r = refusal(s, { gate: 'ship', outcome: 'rejected', by: 'bob' });
    expect(r.type).toBe(DECISION_REFUSED.alreadyDecided);
    expect(r.message).toBe(`gate 'ship' was already decided: approved by alice at ${NOW}`);
    expect(s.gates.decisionFor('ship')?.by).toBe('alice');
    expect(s.snapshot().decisions).toHaveLength(1);
  });

  test.each([
    ['not an object', 'approve', /a decision is a JSON object/],
    ['no outcome', { by: 'x' }, /"outcome" must be "approved" or "rejected" \(got null\)/],
    ['a made-up outcome', { outcome: 'maybe', by: 'x' }, /got "maybe"/],
    ['an outcome named like an Object method', { outcome: 'constructor', by: 'x' }, /"outcome" must be/],
    ['no one deciding', { outcome: 'approved' }, /"by" must be a non-empty name/],
    ['a blank name', { outcome: 'approved', by: '  ' }, /"by" must be a non-empty name/],
    ['a comment that is not text', { outcome: 'approved', by: 'x', comment: 3 }, /"comment" must be text/],
    ['a bad time', { outcome: 'approved', by: 'x', decidedAt: 'yesterday' }, /ISO 8601/],
    [
      'an edited draft with a rejection',
      { outcome: 'rejected', by: 'x', editedDraft: 'y' },
      /edits go with "approved"/,
    ],
    [
      'edited arguments on a draft gate',
      { outcome: 'approved', by: 'x', editedArguments: {} },
      /is a draft: edit it with "editedDraft"/,
    ],
    [
      'an edited draft that is not text',
      { outcome: 'approved', by: 'x', editedDraft: 1 },
      /"editedDraft" must be text/,
    ],
  ])('%s is refused as invalid', (_name, input, message) => {
    const s = new RunState('r');
    s.gates.open(gate());
    const r = refusal(s, input);
    expect(r.type).toBe(DECISION_REFUSED.invalid);
    expect(r.message).toMatch(message);
  });

  test('a tool gate takes edited arguments (a JSON object) and refuses an edited draft', () => {
    const s = new RunState('r');
    s.gates.open(toolGate());
    const d = s.gates.check({ outcome: 'approved', by: 'x', editedArguments: { to: 'c@d.e' } });
    expect(d.editedArguments).toEqual({ to: 'c@d.e' });
    expect(refusal(s, { outcome: 'approved', by: 'x', editedDraft: 'y' }).message).toMatch(
      /is a tool call: edit it with "editedArguments"/,
    );
    expect(refusal(s, { outcome: 'approved', by: 'x', editedArguments: [1] }).message).toMatch(
      /must be a JSON object/,
    );
  });
});

describe('recording decisions', () => {
  test('progress shows waiting gates, then the decision in order, with workflow time when the caller gave none', () => {
    const s = new RunState('r');
    s.gates.open(gate({ gate: 'a', step: 'a' }));
    s.gates.open(toolGate());
    expect(s.snapshot().pendingApprovals?.map((p) => p.gate)).toEqual(['a', 'agent:send_email:1']);
    expect(s.snapshot().decisions).toBeUndefined();

    const digest = s.gates.get('agent:send_email:1')!.digest;
    s.gates.decide(
      { gate: 'agent:send_email:1', outcome: 'rejected', by: 'bob', comment: 'wrong person', digest },
      'signal',
      NOW,
    );
    s.gates.decide({ gate: 'a', outcome: 'approved', by: 'alice', editedDraft: 'better' }, 'update', NOW);

    const snap = s.snapshot();
    expect(snap.pendingApprovals).toBeUndefined();
    expect(snap.decisions).toEqual([
      {
        gate: 'agent:send_email:1',
        step: 'agent',
        outcome: 'rejected',
        by: 'bob',
        comment: 'wrong person',
        decidedAt: NOW,
        digest,
        via: 'signal',
      },
      {
        gate: 'a',
        step: 'a',
        outcome: 'approved',
        by: 'alice',
        editedDraft: 'better',
        decidedAt: NOW,
        digest: gateDigest({ kind: 'draft', draft: 'the draft' }),
        via: 'update',
      },
    ]);
  });

  test('a decision on an escalated gate says so', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    s.gates.update('ship', { escalated: true, deadline: NOW });
    expect(s.gates.pending()[0]).toMatchObject({ escalated: true, deadline: NOW });
    expect(s.gates.decide({ outcome: 'approved', by: 'x' }, 'update', NOW).escalated).toBe(true);
  });

  test('snapshots are copies: changing one does not change the run', () => {
    const s = new RunState('r');
    s.gates.open(toolGate());
    s.gates.pending()[0]!.tool!.arguments.to = 'evil@x';
    expect(s.gates.pending()[0]!.tool!.arguments.to).toBe('a@b.c');
  });
});

describe('helpers', () => {
  test('rejection messages name who rejected and why', () => {
    expect(rejectionMessage({ by: 'alice', comment: 'too risky' })).toBe('rejected by alice: too risky');
    expect(rejectionMessage({ by: 'alice' })).toBe('rejected by alice');
    expect(rejectionMessage({ by: 'deadline', comment: 'no decision within 2h', timedOut: true })).toBe(
      'rejected by its deadline: no decision within 2h',
    );
  });

  test('summaries are one line of at most 200 characters', () => {
    expect(shorten('a\n\n  b ')).toBe('a b');
    const long = shorten('x'.repeat(500));
    expect(long).toHaveLength(200);
    expect(long.endsWith('…')).toBe(true);
  });

  test('durations read like Temporal reads them; a bad one names its field', () => {
    expect(durationMs('2h', 'deadline')).toBe(7_200_000);
    expect(durationMs('3 days', 'deadline')).toBe(259_200_000);
    expect(durationMs(1500, 'deadline')).toBe(1500);
    expect(() => durationMs('soon', "step 'ship': deadline")).toThrow(
      /step 'ship': deadline "soon" is not a positive duration/,
    );
    expect(() => durationMs(0, 'deadline')).toThrow(/not a positive duration/);
  });

  test('the search attribute keys the workflow upserts are the ones Baton registers', () => {
    for (const key of Object.values(SEARCH_ATTRIBUTES)) {
      expect(BATON_SEARCH_ATTRIBUTES).toHaveProperty(key.name);
    }
    expect(BATON_SEARCH_ATTRIBUTES.BatonPendingApprovals).toBe('KeywordList');
  });
});

describe('digests: a decision binds to what was shown', () => {
  test('every waiting gate shows the digest of its draft or tool call (stable, key order aside)', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    s.gates.open(toolGate());
    const [d, t] = s.gates.pending();
    expect(d!.digest).toBe(gateDigest({ kind: 'draft', draft: 'the draft' }));
    expect(d!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(t!.digest).toBe(
      gateDigest({ kind: 'tool', tool: { name: 'send_email', arguments: { to: 'a@b.c' } } }),
    );
    expect(gateDigest({ kind: 'tool', tool: { name: 'x', arguments: { a: 1, b: { c: 2, d: 3 } } } })).toBe(
      gateDigest({ kind: 'tool', tool: { name: 'x', arguments: { b: { d: 3, c: 2 }, a: 1 } } }),
    );
    expect(gateDigest({ kind: 'tool', tool: { name: 'x', arguments: { a: 1 } } })).not.toBe(
      gateDigest({ kind: 'tool', tool: { name: 'x', arguments: { a: 2 } } }),
    );
  });

  test('a decision whose digest differs from what the gate shows is refused as Stale; the right one is accepted', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    const stale = gateDigest({ kind: 'draft', draft: 'an older draft' });
    const r = refusal(s, { gate: 'ship', outcome: 'approved', by: 'alice', digest: stale });
    expect(r.type).toBe(DECISION_REFUSED.stale);
    expect(r.type).toBe('Stale');
    expect(r.message).toMatch(/gate 'ship' shows something else than what was decided on/);
    // Left out the gate name: the single waiting gate is checked just the same.
    expect(refusal(s, { outcome: 'approved', by: 'alice', digest: stale }).type).toBe('Stale');
    const ok = s.gates.check({ outcome: 'approved', by: 'alice', digest: s.gates.pending()[0]!.digest });
    expect(ok.gate).toBe('ship');
  });

  test('without a digest a decision is accepted for a single waiting gate only', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    expect(s.gates.check({ outcome: 'approved', by: 'alice' }).gate).toBe('ship');
    s.gates.open(toolGate());
    const r = refusal(s, { gate: 'ship', outcome: 'approved', by: 'alice' });
    expect(r.type).toBe(DECISION_REFUSED.invalid);
    expect(r.message).toMatch(/2 gates are waiting, so a decision must say what it saw: pass the "digest"/);
    expect(refusal(s, { gate: 'ship', outcome: 'approved', by: 'alice', digest: 7 }).message).toMatch(
      /"digest" must be/,
    );
  });

  test('kinds other than draft and tool (a budget gate) open, show a digest of their summary, and take decisions', () => {
    const s = new RunState('r');
    s.gates.open(gate({ gate: 'budget', kind: 'budget', summary: 'spent $0.05 of $0.05', draft: undefined }));
    const p = s.gates.pending()[0]!;
    expect(p.digest).toBe(gateDigest({ kind: 'budget', summary: 'spent $0.05 of $0.05' }));
    // Approving a budget gate raises the budget: the registry hands the money side to the ledger.
    expect(refusal(s, { outcome: 'approved', by: 'alice', digest: p.digest }).message).toMatch(
      /needs the new limit/,
    );
    const d = s.gates.check({
      outcome: 'approved',
      by: 'alice',
      digest: p.digest,
      budget: { maxCostUsd: 0.1 },
    });
    expect(d.gate).toBe('budget');
    expect(d.budget).toEqual({ maxCostUsd: 0.1 });
    expect(refusal(s, { outcome: 'approved', by: 'alice', editedDraft: 'x' }).message).toMatch(
      /is a budget gate: "editedDraft" is for draft gates/,
    );
  });
});

describe('release: a failed run decides nothing more', () => {
  test('waiting gates end as released (in decisions), no gate opens, and every decision is refused as RunFailed', () => {
    const s = new RunState('r');
    s.gates.open(gate());
    s.gates.open(toolGate());
    s.halt("step 'check' failed", NOW);
    expect(s.stopped).toBe("step 'check' failed");
    const snap = s.snapshot();
    expect(snap.pendingApprovals).toBeUndefined();
    expect(snap.decisions).toEqual([
      expect.objectContaining({ gate: 'ship', outcome: 'released', by: 'run', via: 'release' }),
      expect.objectContaining({
        gate: 'agent:send_email:1',
        outcome: 'released',
        comment: "released without a decision: step 'check' failed",
      }),
    ]);
    const r = refusal(s, { gate: 'ship', outcome: 'approved', by: 'alice' });
    expect(r.type).toBe(DECISION_REFUSED.runFailed);
    expect(r.message).toMatch(
      /the run has failed \(step 'check' failed\); gate 'ship' was released without a decision/,
    );
    expect(() => s.gates.open(gate({ gate: 'later' }))).toThrow(/the run has failed/);
    // A second release changes nothing.
    s.halt('other', NOW);
    expect(s.snapshot().decisions).toHaveLength(2);
  });
});

describe('sha256', () => {
  test('matches Node crypto on ASCII, multi-byte text, surrogate pairs and block boundaries', () => {
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    const texts = [
      '',
      'abc',
      'é ü 中文 🎉',
      'x'.repeat(55),
      'y'.repeat(56),
      'z'.repeat(64),
      'w'.repeat(1000),
    ];
    for (const t of texts) expect(sha256Hex(t)).toBe(createHash('sha256').update(t, 'utf8').digest('hex'));
  });
});
