import { chain } from '../../src/define';
import { parseDataset } from '../../src/evals/dataset';
import { compareReports, recordedAnswers, replayEval, runEval } from '../../src/evals/eval';
import type { ModelProfile } from '../../src/types';
import { startHarness, type Harness } from '../support/harness';

const openai: ModelProfile = {
  name: 'oa',
  provider: 'openai',
  model: 'gpt-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 2 },
};
const judge: ModelProfile = { name: 'judge', provider: 'openai', model: 'gpt-judge' };

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const uniq = () => `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

const answerer = chain('answerer', [{ name: 'answer', profile: openai, prompt: 'Answer: {{input}}' }]);

const dataset = parseDataset(
  [
    '{"id":"sum","input":"2+2","assert":[{"type":"exact","value":"4"},{"type":"range","min":3,"max":5}]}',
    '{"id":"capital","input":"capital of France","assert":[{"type":"contains","value":"paris","ignore_case":true}]}',
    '{"id":"json","input":"as json","assert":[{"type":"json_schema","schema":{"type":"object","required":["ok"]}},{"type":"regex","pattern":"\\"ok\\":\\\\s*true"}]}',
    '{"id":"wrong","input":"capital of Spain","assert":[{"type":"contains","value":"Madrid"}]}',
    '{"id":"graded","input":"be polite","rubric":"The reply is polite."}',
  ].join('\n'),
  'cases.jsonl',
);

function script(): void {
  h.fake.on('Answer: 2+2', { text: '4', usage: { input: 100, output: 1 } });
  h.fake.on('Answer: capital of France', { text: 'It is Paris.' });
  h.fake.on('Answer: as json', { text: '{"ok": true}' });
  h.fake.on('Answer: capital of Spain', { text: 'Barcelona' });
  h.fake.on('Answer: be polite', { text: 'Thank you kindly.' });
  h.fake.on('Grade the OUTPUT', { text: '{"score": 0.9, "reason": "polite wording"}' });
}

test('each case runs as a durable run; assertions and a judge rubric score it; the report has pass rate, cost and latency', async () => {
  script();
  const report = await runEval(h.baton, answerer, dataset, {
    judge,
    concurrency: 3,
    runIdPrefix: `ev-${uniq()}`,
  });

  const byId = Object.fromEntries(report.cases.map((c) => [c.id, c]));
  expect(byId.sum!.status).toBe('passed');
  expect(byId.capital!.status).toBe('passed');
  expect(byId.json!.status).toBe('passed');
  expect(byId.wrong!.status).toBe('failed');
  expect(byId.wrong!.checks[0]).toMatchObject({
    type: 'contains',
    pass: false,
    detail: 'does not contain "Madrid"',
  });
  expect(byId.graded!.checks[0]).toMatchObject({
    type: 'rubric',
    pass: true,
    score: 0.9,
    detail: 'polite wording',
  });
  expect(report.summary).toMatchObject({ cases: 5, passed: 4, passRate: 0.8 });
  // The 'sum' case: 100 input tokens at $1/M and 1 output token at $2/M.
  expect(byId.sum!.costUsd).toBeCloseTo(0.000102, 9);
  expect(byId.sum!.tokens).toBe(101);
  expect(report.summary.costUsd).toBeGreaterThan(0);
  for (const c of report.cases) expect(c.latencyMs).toBeGreaterThanOrEqual(0);
  expect(report.summary.maxLatencyMs).toBe(Math.max(...report.cases.map((c) => c.latencyMs)));
  expect(report.summary.p50LatencyMs).toBeLessThanOrEqual(report.summary.maxLatencyMs);
  // Every case is a run on the server, with its own id.
  const run = await h.baton.result(byId.sum!.runId);
  expect(run.output).toBe('4');
  // The judge saw the criteria and the output.
  const graded = h.fake.requests.find((r) => r.allText.includes('Grade the OUTPUT'))!;
  expect(graded.allText).toContain('The reply is polite.');
  expect(graded.allText).toContain('Thank you kindly.');
});

test('a judge score under the threshold fails the case; a failed run is an error case with its cost', async () => {
  h.fake.on('Answer: be polite', { text: 'Go away.' });
  h.fake.on('Grade the OUTPUT', { text: '{"score": 0.2, "reason": "rude"}' });
  h.fake.on('Answer: boom', { status: 400, message: 'bad request from the fake' });
  const cases = parseDataset(
    [
      '{"id":"graded","input":"be polite","rubric":{"criteria":"polite","threshold":0.5}}',
      '{"id":"boom","input":"boom","assert":[{"type":"contains","value":"x"}]}',
    ].join('\n'),
    'cases.jsonl',
  );
  const report = await runEval(h.baton, answerer, cases, { judge, runIdPrefix: `ev-${uniq()}` });
  const [graded, boom] = report.cases;
  expect(graded).toMatchObject({ status: 'failed', checks: [{ type: 'rubric', pass: false, score: 0.2 }] });
  expect(boom!.status).toBe('error');
  expect(boom!.error).toMatch(/bad request from the fake/);
  expect(report.summary.passRate).toBe(0);
});

test('--max-cost-usd becomes each case run budget (the lower of it and the ensemble own)', async () => {
  const cases = parseDataset(
    '{"id":"a","input":"x","assert":[{"type":"contains","value":"echo"}]}',
    'c.jsonl',
  );
  const report = await runEval(h.baton, { ...answerer, budget: { maxCostUsd: 5 } }, cases, {
    maxCostUsd: 2,
    runIdPrefix: `ev-${uniq()}`,
  });
  expect(report.cases[0]!.status).toBe('passed');
  const input = await h.baton.runInput(report.cases[0]!.runId);
  expect(input.definition.budget?.maxCostUsd).toBe(2);
});

test('a comparison names regressions, fixes and the change in pass rate and cost', async () => {
  script();
  const before = await runEval(h.baton, answerer, dataset, { judge, runIdPrefix: `ev-${uniq()}` });
  h.fake.reset();
  script();
  h.fake.on('Answer: 2+2', { text: 'five' });
  h.fake.on('Answer: capital of Spain', { text: 'Madrid' });
  const after = await runEval(h.baton, answerer, dataset, { judge, runIdPrefix: `ev-${uniq()}` });
  const cmp = compareReports(after, JSON.parse(JSON.stringify(before)));
  expect(cmp.regressions).toEqual(['sum']);
  expect(cmp.fixed).toEqual(['wrong']);
  expect(cmp.passRateDelta).toBeCloseTo(0, 9);
  expect(cmp.previousPassRate).toBe(0.8);
  expect(() => compareReports(after, { hello: 1 })).toThrow(/not a report of `baton eval --json`/);
});

describe('replay', () => {
  const pipeline = (polish: string) =>
    chain('pipeline', [
      { name: 'draft', profile: openai, prompt: 'Draft about {{input}}' },
      { name: 'polish', profile: openai, prompt: `${polish}: {{draft}}` },
      { name: 'title', profile: openai, prompt: 'Title for: {{polish}}' },
    ]);

  test('unchanged requests are answered from the recorded run (0 provider requests); a changed step makes exactly 1', async () => {
    h.fake.on('Draft about', { text: 'DRAFT', usage: { input: 50, output: 5 } });
    h.fake.on('Polish this: DRAFT', { text: 'POLISHED' });
    // A changed prompt whose reply happens to be the same: the step downstream needs no new call.
    h.fake.on('Rewrite this: DRAFT', { text: 'POLISHED', usage: { input: 60, output: 6 } });
    h.fake.on('Shorten this: DRAFT', { text: 'SHORT' });
    h.fake.on('Title for: POLISHED', { text: 'TITLE' });
    h.fake.on('Title for: SHORT', { text: 'SHORT TITLE' });
    const recorded = `rec-${uniq()}`;
    await h.baton.run(pipeline('Polish this'), 'whales', { runId: recorded });
    expect(h.fake.requests).toHaveLength(3);
    const answers = await recordedAnswers(h.baton, recorded);
    expect(Object.keys(answers)).toHaveLength(3);

    // Same definition (the recorded one): nothing calls the provider, nothing costs.
    const same = await replayEval(h.baton, [recorded], { runIdPrefix: `rp-${uniq()}` });
    expect(h.fake.requests).toHaveLength(3);
    expect(same.runs[0]).toMatchObject({
      status: 'same',
      output: 'TITLE',
      recordedCalls: 3,
      liveCalls: 0,
      costUsd: 0,
    });

    // A changed prompt in the middle step: only that step calls the provider; its output is the
    // same, so the step after it is answered from the recording.
    const edited = await replayEval(h.baton, [recorded], {
      definition: pipeline('Rewrite this'),
      runIdPrefix: `rp-${uniq()}`,
    });
    expect(h.fake.requests).toHaveLength(4);
    expect(h.fake.requests[3]!.allText).toContain('Rewrite this: DRAFT');
    expect(edited.runs[0]).toMatchObject({ status: 'same', output: 'TITLE', recordedCalls: 2, liveCalls: 1 });
    // Only the live call is paid for: 60 input tokens at $1/M and 6 output at $2/M.
    expect(edited.runs[0]!.costUsd).toBeCloseTo(0.000072, 9);

    // A change whose output differs: the step downstream sees a new input and calls the provider too.
    const changed = await replayEval(h.baton, [recorded], {
      definition: pipeline('Shorten this'),
      runIdPrefix: `rp-${uniq()}`,
    });
    expect(h.fake.requests).toHaveLength(6);
    expect(changed.runs[0]).toMatchObject({
      status: 'changed',
      recordedOutput: 'TITLE',
      output: 'SHORT TITLE',
      recordedCalls: 1,
      liveCalls: 2,
    });
    expect(changed.summary).toMatchObject({ runs: 1, changed: 1, errors: 0, recordedCalls: 1, liveCalls: 2 });

    // A replay of a replay still answers from the first recording (and the replay's own calls).
    const again = await replayEval(h.baton, [changed.runs[0]!.runId], { runIdPrefix: `rp-${uniq()}` });
    expect(h.fake.requests).toHaveLength(6);
    expect(again.runs[0]).toMatchObject({ status: 'same', output: 'SHORT TITLE', liveCalls: 0 });
  });
});
