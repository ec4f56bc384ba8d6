/**
 * llm-orc ensembles end to end on the real Temporal server: converted by `baton import llm-orc`
 * (written, then loaded like any Baton file) or loaded directly (as `baton run` does), with their
 * ollama profiles pointed at the fake model server through OLLAMA_HOST.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, loadEnsembleFile } from '../../src/config';
import { importLlmOrc, loadLlmOrcEnsemble, writeImport } from '../../src/config/llm-orc';
import type { FakeRequest } from '../support/fake-model-server';
import { fakeEnv, startHarness, type Harness } from '../support/harness';

const root = join(__dirname, '..', 'fixtures', 'llm-orc');
const ensembles = join(root, '.llm-orc', 'ensembles');
let h: Harness;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // ollama profiles become openai-compatible at OLLAMA_HOST/v1, a keyless endpoint the worker must allow.
  h = await startHarness({ env: (fake) => ({ ...fakeEnv(fake), BATON_ALLOWED_ENDPOINTS: fake.url }) });
  env = { OLLAMA_HOST: h.fake.url };
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const bySystem = (word: string) => (req: FakeRequest) => req.system.includes(word);
const runId = (name: string) => `llm-orc-${name}-${Date.now()}`;

test('routing-demo (direct): input_key picks the keys, each item runs the child ensemble, the synthesizer reads both', async () => {
  const { definition } = loadLlmOrcEnsemble(join(ensembles, 'routing-demo.yaml'), { env });
  h.fake.on(bySystem('QUICKLOCAL'), {
    text: JSON.stringify({ topics: ['alpha topic', 'beta topic'], questions: ['why q1?'] }),
  });
  h.fake.on(bySystem('BRIEFER'), (req) => ({ text: `brief(${req.lastUserText})` }));
  h.fake.on(bySystem('RESPONDER'), (req) => ({ text: `answer(${req.lastUserText})` }));
  h.fake.on(bySystem('SYNTHESIZER'), { text: 'FINAL SYNTHESIS' });

  const { runId: id } = await h.baton.start(definition, 'route these', { runId: runId('routing') });
  const result = await h.baton.result(id);
  expect(result.status).toBe('completed');
  expect(result.output).toBe('FINAL SYNTHESIS');

  // The child ensembles saw the picked items as their input, one child run per item.
  const briefs = h.fake.requests.filter(bySystem('BRIEFER')).map((r) => r.lastUserText);
  expect(briefs.sort()).toEqual(['alpha topic', 'beta topic']);
  expect(h.fake.requests.filter(bySystem('RESPONDER')).map((r) => r.lastUserText)).toEqual(['why q1?']);
  const steps = Object.fromEntries(result.steps.map((s) => [s.name, s]));
  expect(JSON.parse(steps['topic-briefs']!.output!)).toEqual(['brief(alpha topic)', 'brief(beta topic)']);
  expect(steps['topic-briefs[0]/brief']).toMatchObject({ status: 'completed', output: 'brief(alpha topic)' });
  expect(steps['answers[0]/responder']).toMatchObject({ status: 'completed' });
  // The synthesizer's prompt is llm-orc's composition: the run input and both results.
  const synth = h.fake.requests.find(bySystem('SYNTHESIZER'))!.lastUserText;
  expect(synth).toContain('Original Input:\nroute these');
  expect(synth).toContain('Agent topic-briefs:\n["brief(alpha topic)","brief(beta topic)"]');
  expect(synth).toContain('Agent answers:\n["answer(why q1?)"]');
});

describe('converted with baton import llm-orc, then run', () => {
  const out = mkdtempSync(join(tmpdir(), 'baton-llm-orc-run-'));
  let config: ReturnType<typeof loadConfig>;
  beforeAll(() => {
    writeImport(importLlmOrc(root, { env }), out);
    config = loadConfig({ local: out });
  });
  const load = (name: string) => loadEnsembleFile(join(out, 'ensembles', `${name}.yaml`), { config });

  test('topic-splitter: each fan-out instance sees its chunk_index and total_chunks and one picked item', async () => {
    h.fake.on(bySystem('Return JSON with keys topics'), {
      text: JSON.stringify({ topics: ['t-one', 't-two', 't-three'], questions: [] }),
    });
    h.fake.on(
      (r) => r.lastUserText.startsWith('Processing chunk'),
      (req) => ({ text: `read ${req.lastUserText.split('\n').pop()}` }),
    );
    const { runId: id } = await h.baton.start(load('topic-splitter'), 'split me', { runId: runId('split') });
    const result = await h.baton.result(id);
    expect(result.status).toBe('completed');
    const prompts = h.fake.requests
      .map((r) => r.lastUserText)
      .filter((t) => t.startsWith('Processing chunk'))
      .sort();
    expect(prompts).toEqual([
      'Processing chunk 0 (counting from 0) of 3.\n\nOriginal task: split me\n\nChunk content:\nt-one',
      'Processing chunk 1 (counting from 0) of 3.\n\nOriginal task: split me\n\nChunk content:\nt-two',
      'Processing chunk 2 (counting from 0) of 3.\n\nOriginal task: split me\n\nChunk content:\nt-three',
    ]);
    expect(JSON.parse(result.output)).toEqual(['read t-one', 'read t-two', 'read t-three']);
  });

  test('triage-conditions: the dict-form depends_on conditions skip the branch whose condition is false', async () => {
    h.fake.on(bySystem('Answer with JSON'), { text: JSON.stringify({ urgent: false, area: '' }) });
    const { runId: id } = await h.baton.start(load('triage-conditions'), 'printer on fire?', {
      runId: runId('triage'),
    });
    const result = await h.baton.result(id);
    expect(result.status).toBe('completed');
    const status = Object.fromEntries(result.steps.map((s) => [s.name, s.status]));
    expect(status).toEqual({
      gate: 'completed',
      escalate: 'skipped',
      'file-ticket': 'completed',
      notify: 'skipped',
    });
    expect(result.steps.find((s) => s.name === 'escalate')!.reason).toMatch(
      /gate\.urgent equals true.*false/,
    );
  });

  test('review-chain: an empty input runs the default_task; the profile system prompt is sent', async () => {
    const { runId: id } = await h.baton.start(load('review-chain'), '', { runId: runId('review') });
    const result = await h.baton.result(id);
    expect(result.status).toBe('completed');
    const clarity = h.fake.requests.find(
      (r) =>
        r.system === 'You are QUICKLOCAL, a fast local analyst.' &&
        !r.lastUserText.includes('Previous Agent'),
    )!;
    expect(clarity.lastUserText).toBe('Review the attached changelog entry for clarity.');
    expect(h.fake.requests.find(bySystem('ACCURACY'))!.lastUserText).toBe(
      'Review the attached changelog entry for clarity.',
    );
    expect(result.output).toContain('Original Input:\nReview the attached changelog entry for clarity.');
  });
});

test('input_key on a key the upstream output lacks fails the step, naming step, key and the keys there are', async () => {
  const { definition } = loadLlmOrcEnsemble(join(ensembles, 'topic-splitter.yaml'), { env });
  h.fake.on(bySystem('Return JSON with keys topics'), { text: JSON.stringify({ subjects: ['x'] }) });
  const { runId: id } = await h.baton.start(definition, 'x', { runId: runId('nokey') });
  const progress = await h.baton.result(id).catch((e: { progress?: unknown }) => e.progress);
  expect(progress).toMatchObject({ status: 'failed' });
  const analyst = (
    progress as { steps: { name: string; status: string; error?: { type: string; message: string } }[] }
  ).steps.find((s) => s.name === 'analyst')!;
  expect(analyst.status).toBe('failed');
  expect(analyst.error).toMatchObject({ type: 'InputKeyMissing' });
  expect(analyst.error!.message).toMatch(/input_key 'topics' of step 'classifier'.*keys: subjects/);
});

describe('ensemble steps: one run, one budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-child-budget-'));
  const child = (budget: string) =>
    writeFileSync(
      join(dir, 'child.yaml'),
      `name: child\ndefault_input: CHILD-DEFAULT\n${budget}profiles:\n  fake: { provider: openai, model: gpt-test, max_tokens: 500 }\nagents:\n  - name: work\n    model_profile: fake\n    prompt: "child got: {{input}}"\n`,
    );
  const parent = (budget: string) => {
    writeFileSync(
      join(dir, 'parent.yaml'),
      `name: parent\n${budget}agents:\n  - name: sub\n    ensemble: child\n    prompt: ""\n`,
    );
    return loadEnsembleFile(join(dir, 'parent.yaml'), { config: { profiles: {}, files: [] } });
  };

  test("the child's own budget does not apply; an empty input takes the child's default_input", async () => {
    child('budget: { max_tokens: 1, on_exceeded: fail }\n');
    const { runId: id } = await h.baton.start(parent(''), 'ignored', { runId: runId('child-budget') });
    const result = await h.baton.result(id);
    expect(result.status).toBe('completed');
    expect(result.output).toBe('echo: child got: CHILD-DEFAULT');
    expect(result.steps.find((s) => s.name === 'sub/work')).toMatchObject({ status: 'completed', calls: 1 });
  });

  test("the parent's budget covers the child's calls", async () => {
    child('');
    const { runId: id } = await h.baton.start(
      parent('budget: { max_tokens: 50, on_exceeded: fail }\n'),
      'x',
      {
        runId: runId('parent-budget'),
      },
    );
    const progress = await h.baton.result(id).catch((e: { progress?: unknown }) => e.progress);
    expect(progress).toMatchObject({ status: 'failed', error: { type: 'BudgetExceeded' } });
    expect(h.fake.count('child got')).toBe(0);
  });
});
