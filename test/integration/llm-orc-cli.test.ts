/** `baton import llm-orc` and `baton run <llm-orc file>` as a user runs them. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeModelServer } from '../support/fake-model-server';
import { runBaton } from '../support/cli';

const FIXTURE = join(__dirname, '..', 'fixtures', 'llm-orc');
const ENSEMBLES = join(FIXTURE, '.llm-orc', 'ensembles');
let fake: FakeModelServer;
let dir: string;

beforeAll(async () => {
  fake = await FakeModelServer.start();
  dir = mkdtempSync(join(tmpdir(), 'baton-llm-orc-cli-'));
});
afterAll(async () => {
  await fake?.close();
});

function baton(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runBaton(args, { cwd: dir, env: { OLLAMA_HOST: fake.url, ...env } });
}

test('baton import llm-orc --help says what it reads, writes and reports', async () => {
  const r = await baton(['import', 'llm-orc', '--help']);
  expect(r.code).toBe(0);
  for (const s of [
    '--out <dir>',
    '--dry-run',
    'config.yaml',
    'ensembles/**.yaml',
    'worker-scripts.yaml',
    'mapped',
    'changed',
    'unsupported',
    'Exit code 0',
    'docs/ensembles.md',
  ])
    expect(r.stdout).toContain(s);
});

test('a whole .llm-orc tree: every ensemble reported and written but the one that cannot map (exit 2)', async () => {
  // Into the project's .baton/: the converted ensembles are then found by name.
  const out = join(dir, '.baton');
  const r = await baton(['import', 'llm-orc', FIXTURE, '--out', out]);
  expect(r.code).toBe(2);
  expect(r.stdout).toMatch(/10 of 11 ensembles converted, 4 profiles/);
  expect(r.stdout).toMatch(/unsupported +agents\[0\]\.loop +a loop over a body ensemble/);
  expect(r.stderr).toMatch(/1 of 11 llm-orc ensembles could not be converted/);
  expect(existsSync(join(out, 'config.yaml'))).toBe(true);
  expect(existsSync(join(out, 'ensembles', 'research', 'topic-brief.yaml'))).toBe(true);
  expect(existsSync(join(out, 'ensembles', 'refine-loop.yaml'))).toBe(false);
  // The written directory is a Baton config directory: `baton validate <name>` finds and accepts them.
  const v = await baton(['validate', 'routing-demo', 'triage-conditions']);
  expect(v.stderr).toBe('');
  expect(v.stdout).toMatch(/^ok {2}routing-demo: routing-demo, 4 steps\nok {2}triage-conditions/);
});

test('one file brings the ensembles it runs; --dry-run writes nothing; -o json', async () => {
  const out = join(dir, 'one');
  const dry = await baton([
    'import',
    'llm-orc',
    join(ENSEMBLES, 'routing-demo.yaml'),
    '--out',
    out,
    '--dry-run',
    '-o',
    'json',
  ]);
  expect(dry.code).toBe(0);
  const report = JSON.parse(dry.stdout);
  expect(report.ensembles.map((e: { name: string }) => e.name).sort()).toEqual([
    'qa-pipeline',
    'routing-demo',
    'topic-brief',
  ]);
  expect(report.written).toEqual([]);
  expect(existsSync(out)).toBe(false);
  const wet = await baton(['import', 'llm-orc', join(ENSEMBLES, 'routing-demo.yaml'), '--out', out]);
  expect(wet.code).toBe(0);
  expect(existsSync(join(out, 'ensembles', 'qa-pipeline.yaml'))).toBe(true);
});

test('baton run refuses an llm-orc file with an unmappable field before anything starts, naming file and field', async () => {
  const r = await baton(['run', join(ENSEMBLES, 'scoped-verifier.yaml'), 'x']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/scoped-verifier\.yaml {2}agents\[1\]\.options {2}cannot be mapped/);
  expect(r.stderr).toMatch(/nothing was started/);
  // `baton validate` reads llm-orc files the same way.
  const v = await baton([
    'validate',
    join(ENSEMBLES, 'triage-conditions.yaml'),
    join(ENSEMBLES, 'refine-loop.yaml'),
  ]);
  expect(v.code).toBe(2);
  expect(v.stdout).toMatch(/^ok {2}.*triage-conditions\.yaml: triage-conditions, 4 steps/);
  expect(v.stderr).toMatch(/refine-loop\.yaml {2}agents\[0\]\.loop {2}cannot be mapped/);
});

test('baton run -v runs an llm-orc file directly and prints the conversion report on stderr', async () => {
  fake.on((req) => req.system.includes('RESPONDER'), { text: 'Durable execution survives crashes.' });
  const r = await baton(
    ['run', '-v', '--local-worker', join(ENSEMBLES, 'qa-pipeline.yaml'), 'What is durable execution?'],
    {
      BATON_ALLOWED_ENDPOINTS: fake.url,
    },
  );
  expect(r.stderr).toMatch(/llm-orc: converted .*qa-pipeline\.yaml/);
  expect(r.stderr).toMatch(/mapped +agents\[0\]\.model_profile/);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe('Durable execution survives crashes.');
});
