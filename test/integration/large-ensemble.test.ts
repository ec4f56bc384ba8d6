import { temporal } from '@temporalio/proto';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
// Temporal's own limits per run: 51,200 events and 50 MB of history; 2 MB per payload.
const HISTORY_EVENT_LIMIT = 51_200;
const HISTORY_BYTES_LIMIT = 50 * 1024 * 1024;
const PAYLOAD_LIMIT = 2 * 1024 * 1024;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

test('a 500-step ensemble with 2 KB outputs stays well inside history limits', async () => {
  h.fake.setDefault({ text: 'x'.repeat(2000) });
  // 50 phases of 10 parallel steps; each phase waits for one step of the phase before.
  const steps: EnsembleDefinition['steps'] = [];
  for (let phase = 0; phase < 50; phase++) {
    for (let i = 0; i < 10; i++) {
      steps.push({
        kind: 'agent',
        name: `p${phase}s${i}`,
        dependsOn: phase === 0 ? [] : [`p${phase - 1}s0`],
        profile,
        prompt: phase === 0 ? `start ${i}: {{input}}` : `phase ${phase} step ${i}`,
      });
    }
  }
  const runId = `large-${Date.now()}`;
  const result = await h.baton.run({ name: 'five-hundred', steps }, 'go', { runId });

  expect(result.steps).toHaveLength(500);
  expect(result.steps.every((s) => s.status === 'completed')).toBe(true);
  expect(h.fake.count()).toBe(500);

  const history = await h.baton.handle(runId).fetchHistory();
  const events = history.events?.length ?? 0;
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  if (process.env.BATON_TEST_VERBOSE) console.log(`500 steps: ${events} events, ${bytes} bytes of history`);
  // Well inside: under a tenth of each limit.
  expect(events).toBeLessThan(HISTORY_EVENT_LIMIT / 10);
  expect(bytes).toBeLessThan(HISTORY_BYTES_LIMIT / 10);
  expect(JSON.stringify(result).length).toBeLessThan(PAYLOAD_LIMIT);
});

test('outputs too large for one payload are cut to previews in results, and stay readable whole', async () => {
  const big = 'y'.repeat(400_000);
  h.fake.on('huge', { text: big });
  h.fake.on('small', { text: 'ok' });
  const steps: EnsembleDefinition['steps'] = ['a', 'b', 'c'].map((n) => ({
    kind: 'agent',
    name: n,
    dependsOn: [],
    profile,
    prompt: `huge ${n}`,
  }));
  steps.push({ kind: 'agent', name: 'last', dependsOn: ['a', 'b', 'c'], profile, prompt: 'small' });
  const runId = `big-${Date.now()}`;
  const result = await h.baton.run({ name: 'big-outputs', steps }, 'go', { runId });

  expect(result.output).toBe('ok');
  const cut = result.steps.filter((s) => s.truncated);
  expect(cut.length).toBeGreaterThanOrEqual(2);
  for (const s of cut) {
    expect(s.truncated).toEqual({ chars: 400_000 });
    expect(s.output).toHaveLength(2000);
  }
  expect(JSON.stringify(result).length).toBeLessThan(PAYLOAD_LIMIT);
  expect(await h.baton.stepOutput(runId, cut[0]!.name)).toBe(big);
});
