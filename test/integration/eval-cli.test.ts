import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeModelServer } from '../support/fake-model-server';
import { runBaton } from '../support/cli';

// Each command starts from source on a shared machine: give the tests room.
jest.setTimeout(600_000);

let fake: FakeModelServer;
let dir: string;
const taskQueue = `eval-cli-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  fake = await FakeModelServer.start();
  dir = mkdtempSync(join(tmpdir(), 'baton-eval-'));
  mkdirSync(join(dir, '.baton'));
  writeFileSync(
    join(dir, '.baton', 'config.yaml'),
    'profiles:\n  judge: { provider: openai, model: gpt-judge }\n',
  );
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

function baton(args: string[]) {
  return runBaton(args, {
    cwd: dir,
    env: { BATON_TASK_QUEUE: taskQueue, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.openaiBaseURL },
  });
}

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const pipeline = (polish: string) => `
name: pipeline
profiles:
  fake: { provider: openai, model: gpt-test, pricing: { input_per_mtok: 1, output_per_mtok: 2 } }
default_profile: fake
agents:
  - name: draft
    prompt: "Draft about {{input}}"
  - name: polish
    depends_on: [draft]
    prompt: "${polish}: {{draft}}"
`;

test('baton eval prints a table, writes JSON, compares with an earlier report, and exits 1 below the pass rate', async () => {
  const ens = file('pipeline.yaml', pipeline('Polish this'));
  const cases = file(
    'cases.jsonl',
    [
      '{"id":"whales","input":"whales","assert":[{"type":"contains","value":"POLISHED"}]}',
      '{"id":"kind","input":"manners","rubric":"The reply is kind."}',
    ].join('\n'),
  );
  fake.on('Polish this', { text: 'POLISHED' });
  fake.on('Grade the OUTPUT', { text: '{"score": 1, "reason": "kind"}' });
  const first = await baton([
    'eval',
    ens,
    '--dataset',
    cases,
    '--judge',
    'judge',
    '--local-worker',
    '--out',
    join(dir, 'first.json'),
  ]);
  expect({ code: first.code, stderr: first.code === 0 ? '' : first.stderr }).toEqual({ code: 0, stderr: '' });
  expect(first.stdout).toMatch(/whales\s+pass/);
  expect(first.stdout).toMatch(/pass rate 100\.0% \(2\/2\)/);
  const saved = JSON.parse(readFileSync(join(dir, 'first.json'), 'utf8'));
  expect(saved).toMatchObject({
    kind: 'baton-eval',
    ensemble: 'pipeline',
    summary: { cases: 2, passed: 2, passRate: 1 },
  });

  fake.reset();
  fake.on('Polish this', { text: 'meh' });
  fake.on('Grade the OUTPUT', { text: '{"score": 1, "reason": "kind"}' });
  const second = await baton([
    'eval',
    ens,
    '--dataset',
    cases,
    '--judge',
    'judge',
    '--local-worker',
    '--compare',
    join(dir, 'first.json'),
    '--json',
  ]);
  expect(second.code).toBe(1);
  const report = JSON.parse(second.stdout);
  expect(report.summary.passRate).toBe(0.5);
  expect(report.comparison).toMatchObject({
    previousPassRate: 1,
    passRateDelta: -0.5,
    regressions: ['whales'],
  });
  expect(second.stderr).toMatch(/pass rate 50\.0% is below 100\.0%/);

  // --min-pass-rate lowers the bar.
  const third = await baton([
    'eval',
    ens,
    '--dataset',
    cases,
    '--judge',
    'judge',
    '--local-worker',
    '--min-pass-rate',
    '0',
  ]);
  expect(third.code).toBe(0);
});

test('baton eval --replay re-runs a recorded run: 0 requests when nothing changed, 1 for a changed step', async () => {
  fake.on('Polish this', { text: 'POLISHED' });
  fake.on('Rewrite', { text: 'REWRITTEN' });
  const ens = file('pipeline.yaml', pipeline('Polish this'));
  const runId = `recorded-${Date.now()}`;
  const run = await baton(['run', ens, 'whales', '--local-worker', '--run-id', runId, '-o', 'text']);
  expect(run.code).toBe(0);
  expect(fake.requests).toHaveLength(2);

  const same = await baton(['eval', '--replay', runId, '--local-worker', '--json']);
  expect(same.code).toBe(0);
  expect(fake.requests).toHaveLength(2);
  expect(JSON.parse(same.stdout).runs[0]).toMatchObject({
    recordedRunId: runId,
    status: 'same',
    liveCalls: 0,
    recordedCalls: 2,
  });

  const edited = file('edited.yaml', pipeline('Rewrite'));
  const changed = await baton(['eval', edited, '--replay', runId, '--local-worker']);
  expect(changed.code).toBe(0);
  expect(fake.requests).toHaveLength(3);
  expect(changed.stdout).toMatch(
    /1 changed output, 0 failed; 1 model calls answered from the recording, 1 made live/,
  );
});

test('bad input is refused before anything runs, naming the file and line', async () => {
  const ens = file('pipeline.yaml', pipeline('Polish this'));
  const bad = file('bad.jsonl', '{"input":"x","assert":[{"type":"contains"}]}');
  const r = await baton(['eval', ens, '--dataset', bad]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/bad\.jsonl:1: assert\[0\]\.value/);
  const rubric = file('rubric.jsonl', '{"input":"x","rubric":"kind"}');
  const r2 = await baton(['eval', ens, '--dataset', rubric]);
  expect(r2.code).toBe(2);
  expect(r2.stderr).toMatch(/has a rubric: name a judge profile with --judge <profile>/);
  const notReport = file('not-a-report.json', '{"a": 1}');
  const r4 = await baton([
    'eval',
    ens,
    '--dataset',
    file('ok.jsonl', '{"input":"x","assert":[{"type":"contains","value":"x"}]}'),
    '--compare',
    notReport,
  ]);
  expect(r4.code).toBe(2);
  expect(r4.stderr).toMatch(/--compare .*not-a-report\.json: not a report of `baton eval --json`/);
  const r3 = await baton(['eval', ens]);
  expect(r3.code).toBe(2);
  expect(r3.stderr).toMatch(/name a dataset \(--dataset cases\.jsonl\) or runs to replay/);
  expect(fake.requests).toHaveLength(0);
});
