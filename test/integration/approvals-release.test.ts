import { RunFailedError } from '../../src/client';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

test('when a step fails, a gate still waiting beside it is released and the run fails at once', async () => {
  h.fake.on('draft it', { text: 'DRAFT' });
  h.fake.on('breaks', { status: 400, message: 'bad request' });
  const def: EnsembleDefinition = {
    name: 'release',
    steps: [
      { kind: 'agent', name: 'draft', dependsOn: [], profile, prompt: 'draft it' },
      {
        kind: 'approval',
        name: 'sign-off',
        dependsOn: ['draft'],
        present: '{{draft}}',
        deadline: '1h',
        onTimeout: 'reject',
      },
      { kind: 'agent', name: 'side', dependsOn: ['draft'], profile, prompt: 'breaks {{draft}}' },
    ],
  };
  const err = (await h.baton
    .run(def, 'x', { runId: `release-${Date.now()}` })
    .catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.step).toBe('side');
  const gate = err.progress?.steps.find((s) => s.name === 'sign-off');
  expect(gate?.status).toBe('skipped');
  expect(gate?.reason).toMatch(/released without a decision: step 'side' failed/);
  expect(err.progress?.pendingApprovals ?? []).toEqual([]);
});
