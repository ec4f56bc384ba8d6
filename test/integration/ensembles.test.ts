import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnsembleFile } from '../../src/config';
import { startHarness, type Harness } from '../support/harness';

const examples = join(__dirname, '..', '..', 'examples', 'ensembles');
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

// Every example ensemble must run to the end on the offline provider, as its comment promises.
test.each(readdirSync(examples).filter((f) => f.endsWith('.yaml')))(
  'examples/ensembles/%s runs on the offline provider',
  async (file) => {
    const definition = loadEnsembleFile(join(examples, file));
    const { runId } = await h.baton.start(definition, 'function add(a, b) { return a - b }', {
      runId: `example-${file}-${Date.now()}`,
    });
    // Example gates are approved as a person would.
    const approving = (async () => {
      for (;;) {
        const p = await h.baton.progress(runId);
        if (p.status !== 'running') return;
        if (p.pendingApprovals?.length)
          await h.baton.approve(runId, { by: 'test', comment: 'ok' }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const result = await h.baton.result(runId);
    await approving;
    expect(result.status).toBe('completed');
    expect(result.output.length).toBeGreaterThan(0);
  },
);

test('a run is immune to later edits of its YAML: the resolved definition is its input', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-edit-'));
  const file = join(dir, 'e.yaml');
  const yaml = (word: string) =>
    `name: edited\nprofiles:\n  oa: { provider: openai, model: gpt-test }\ndefault_profile: oa\nagents:\n  - name: a\n    prompt: "${word} one {{input}}"\n  - name: b\n    depends_on: [a]\n    prompt: "${word} two {{a}}"\n`;
  writeFileSync(file, yaml('ORIGINAL'));
  h.fake.on('ORIGINAL one', { text: 'A', delayMs: 1500 });
  h.fake.on('ORIGINAL two', { text: 'B' });
  const { runId } = await h.baton.start(loadEnsembleFile(file), 'x', { runId: `edited-${Date.now()}` });
  await h.fake.waitFor('ORIGINAL one');
  writeFileSync(file, yaml('EDITED'));
  const result = await h.baton.result(runId);
  expect(result.output).toBe('B');
  expect(h.fake.count('EDITED')).toBe(0);
});
