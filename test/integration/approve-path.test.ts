/**
 * `baton.approve()` without a digest (src/client.ts decide): while one gate waits the decision is
 * sent as is and the run binds it to what that gate shows (recording its digest); while several
 * wait the run refuses the first send (nothing written), the client reads the named gate's digest
 * and sends the decision again with it.
 */
import type { EnsembleDefinition } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

const twoGates: EnsembleDefinition = {
  name: 'approve-path',
  steps: ['a', 'b'].map((name) => ({
    kind: 'approval' as const,
    name,
    dependsOn: [],
    present: `${name.toUpperCase()}: {{input}}`,
    deadline: '1h',
    onTimeout: 'reject' as const,
  })),
};

async function updatesAccepted(runId: string): Promise<number> {
  const events = (await h.baton.handle(runId).fetchHistory()).events ?? [];
  return events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

test('a decision without a digest binds to the named gate while several wait, and to the only one after', async () => {
  const { runId } = await h.baton.start(twoGates, 'x', { runId: id('approve-path') });
  let pending = await h.baton.pendingApprovals(runId);
  for (let i = 0; i < 200 && pending.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
    pending = await h.baton.pendingApprovals(runId);
  }
  const a = pending.find((p) => p.gate === 'a')!;
  const b = pending.find((p) => p.gate === 'b')!;
  expect(a.digest).not.toBe(b.digest);

  // Two wait: the run asks for a digest, the client reads gate a's and sends it; one update is written.
  const first = await h.baton.approve(runId, { gate: 'a', by: 'alice' });
  expect(first).toMatchObject({ gate: 'a', outcome: 'approved', by: 'alice', digest: a.digest });
  expect(await updatesAccepted(runId)).toBe(1);

  // One waits: sent without a digest, the run binds it to gate b and records b's digest.
  const second = await h.baton.reject(runId, { by: 'bob', comment: 'no' });
  expect(second).toMatchObject({ gate: 'b', outcome: 'rejected', by: 'bob', digest: b.digest });
  expect(await updatesAccepted(runId)).toBe(2);

  const progress = await h.baton.progress(runId);
  expect(progress.decisions?.map((d) => [d.gate, d.outcome, d.digest])).toEqual([
    ['a', 'approved', a.digest],
    ['b', 'rejected', b.digest],
  ]);
});
