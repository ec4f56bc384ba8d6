import { ApplicationFailure } from '@temporalio/common';
import { BATON_SEARCH_ATTRIBUTES } from '../../src/server/search-attributes';
import { DECISION_REFUSED, SEARCH_ATTRIBUTES, type PendingApproval } from '../../src/workflows/api';
import { durationMs, rejectionMessage, shorten } from '../../src/workflows/approval';
import { RunState } from '../../src/workflows/run-state';

const NOW = '2025-01-31T12:00:00.000Z';

function gate(over: Partial<PendingApproval> = {}): PendingApproval {
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
    state.checkDecision(input);
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
    expect(s.gateId('loop/review')).toBe('loop/review');
    expect(s.gateId('loop/review')).toBe('loop/review#2');
    expect(s.gateId('loop/review')).toBe('loop/review#3');
    expect(s.gateId('other')).toBe('other');
  });

  test('an id a caller took by hand is skipped', () => {
    const s = new RunState('r');
    s.openGate(gate({ gate: 'x#2' }));
    expect(s.gateId('x')).toBe('x');
    expect(s.gateId('x')).toBe('x#3');
  });
});

describe('checking a decision', () => {
  test('a valid approval names its gate and step and is cleaned up', () => {
    const s = new RunState('r');
    s.openGate(gate());
    expect(
      s.checkDecision({ gate: 'ship', outcome: 'approve', by: '  alice ', comment: 'fine', decidedAt: NOW }),
    ).toEqual({
      gate: 'ship',
      step: 'ship',
      outcome: 'approved',
      by: 'alice',
      comment: 'fine',
      decidedAt: NOW,
    });
  });

  test('checking records nothing', () => {
    const s = new RunState('r');
    s.openGate(gate());
    s.checkDecision({ outcome: 'approved', by: 'alice' });
    expect(s.decisionFor('ship')).toBeUndefined();
    expect(s.pendingApprovals()).toHaveLength(1);
  });

  test('the gate may be left out when exactly one waits', () => {
    const s = new RunState('r');
    s.openGate(gate());
    expect(s.checkDecision({ outcome: 'rejected', by: 'bob' }).gate).toBe('ship');
  });

  test('leaving the gate out with two waiting is refused, listing both', () => {
    const s = new RunState('r');
    s.openGate(gate({ gate: 'a', step: 'a' }));
    s.openGate(gate({ gate: 'b', step: 'b' }));
    expect(refusal(s, { outcome: 'approved', by: 'x' })).toEqual({
      type: DECISION_REFUSED.gateRequired,
      message: "2 gates are waiting, name one: 'a', 'b'",
    });
  });

  test('an unknown gate is refused, saying what waits', () => {
    const s = new RunState('r');
    s.openGate(gate());
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
    s.openGate(gate());
    const first = s.decide(
      { gate: 'ship', outcome: 'approved', by: 'alice', decidedAt: NOW },
      'update',
      'later',
    );
    expect(first.decidedAt).toBe(NOW);
    const r = refusal(s, { gate: 'ship', outcome: 'rejected', by: 'bob' });
    expect(r.type).toBe(DECISION_REFUSED.alreadyDecided);
    expect(r.message).toBe(`gate 'ship' was already decided: approved by alice at ${NOW}`);
    expect(s.decisionFor('ship')?.by).toBe('alice');
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
    s.openGate(gate());
    const r = refusal(s, input);
    expect(r.type).toBe(DECISION_REFUSED.invalid);
    expect(r.message).toMatch(message);
  });

  test('a tool gate takes edited arguments (a JSON object) and refuses an edited draft', () => {
    const s = new RunState('r');
    s.openGate(toolGate());
    const d = s.checkDecision({ outcome: 'approved', by: 'x', editedArguments: { to: 'c@d.e' } });
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
    s.openGate(gate({ gate: 'a', step: 'a' }));
    s.openGate(toolGate());
    expect(s.snapshot().pendingApprovals?.map((p) => p.gate)).toEqual(['a', 'agent:send_email:1']);
    expect(s.snapshot().decisions).toBeUndefined();

    s.decide(
      { gate: 'agent:send_email:1', outcome: 'rejected', by: 'bob', comment: 'wrong person' },
      'signal',
      NOW,
    );
    s.decide({ gate: 'a', outcome: 'approved', by: 'alice', editedDraft: 'better' }, 'update', NOW);

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
        via: 'signal',
      },
      {
        gate: 'a',
        step: 'a',
        outcome: 'approved',
        by: 'alice',
        editedDraft: 'better',
        decidedAt: NOW,
        via: 'update',
      },
    ]);
  });

  test('a decision on an escalated gate says so', () => {
    const s = new RunState('r');
    s.openGate(gate());
    s.updateGate('ship', { escalated: true, deadline: NOW });
    expect(s.pendingApprovals()[0]).toMatchObject({ escalated: true, deadline: NOW });
    expect(s.decide({ outcome: 'approved', by: 'x' }, 'update', NOW).escalated).toBe(true);
  });

  test('snapshots are copies: changing one does not change the run', () => {
    const s = new RunState('r');
    s.openGate(toolGate());
    s.pendingApprovals()[0]!.tool!.arguments.to = 'evil@x';
    expect(s.pendingApprovals()[0]!.tool!.arguments.to).toBe('a@b.c');
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
