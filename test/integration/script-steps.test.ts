/**
 * Script steps (`kind: script`) on the real server: a command the worker's config allows, its
 * input on stdin, parameters in BATON_PARAMETERS, stdout as output; refusals before anything runs.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFailedError } from '../../src/client';
import { loadEnsembleText } from '../../src/config';
import { startHarness, type Harness } from '../support/harness';

const dir = mkdtempSync(join(tmpdir(), 'baton-scripts-'));
const attempts = join(dir, 'attempts');
const node = process.execPath;

/** Scripts as `node -e` programs: argv, never a shell. */
const scripts = {
  upper: {
    argv: [
      node,
      '-e',
      `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.stringify({
        text: s.toUpperCase(), params: JSON.parse(process.env.BATON_PARAMETERS),
        key: process.env.BATON_IDEMPOTENCY_KEY, step: process.env.BATON_STEP,
        secret: process.env.OPENAI_API_KEY ?? null, base: process.env.OPENAI_BASE_URL ?? null,
        extra: process.env.SCRIPT_MODE ?? null, args: process.argv.slice(1) })))`,
      '--',
    ],
    env: { SCRIPT_MODE: 'configured' },
    allowArgs: true,
  },
  fail: {
    argv: [
      node,
      '-e',
      `require('fs').appendFileSync(${JSON.stringify(attempts)}, 'x'); console.error('boom: the disk is full'); process.exit(3)`,
    ],
  },
  sleepy: { argv: [node, '-e', 'setTimeout(() => console.log("late"), 20000)'] },
  plain: { argv: [node, '-e', 'process.stdout.write("not json\\n")'] },
};

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ worker: { scripts } });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const yaml = (body: string) =>
  loadEnsembleText(
    `name: scripts\ndefault_profile: oa\nprofiles:\n  oa: { provider: openai, model: gpt-test }\n${body}`,
    'scripts.yaml',
  );
const runId = (what: string) => `script-${what}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;

test('a script step gets its input on stdin and its parameters as JSON; its stdout is the output, parsed as JSON', async () => {
  const def = yaml(`agents:
  - name: shout
    kind: script
    command: upper
    args: ["--loud"]
    parameters: { n: 3, tags: [a, b] }
    output_format: json
  - name: tell
    depends_on: [shout]
    prompt: "said {{steps.shout.text}} with {{steps.shout.params.n}}"
`);
  const id = runId('ok');
  await h.baton.start(def, 'hello', { runId: id });
  const result = await h.baton.result(id);
  const out = JSON.parse(result.steps.find((s) => s.name === 'shout')!.output!);
  expect(out.text).toBe('HELLO');
  expect(out.params).toEqual({ n: 3, tags: ['a', 'b'] });
  expect(out.key).toBe(`${id}/shout#1`);
  expect(out.step).toBe('shout');
  // The child's environment is a minimal allowlist plus the script's own: no worker secrets.
  expect(out.secret).toBeNull();
  expect(out.base).toBeNull();
  expect(out.extra).toBe('configured');
  expect(out.args).toEqual(['--loud']);
  expect(h.fake.count('said HELLO with 3')).toBe(1);
  expect(result.steps.find((s) => s.name === 'shout')!.kind).toBe('script');
});

test('without output_format json, stdout is the output as text (final newline dropped)', async () => {
  const def = yaml(`agents:\n  - { name: p, kind: script, command: plain }\n`);
  const id = runId('text');
  await h.baton.start(def, '', { runId: id });
  expect((await h.baton.result(id)).output).toBe('not json');
});

test('a non-zero exit fails the step with the exit code and the end of stderr; an idempotent script is retried', async () => {
  const def = yaml(`agents:
  - name: broken
    kind: script
    command: fail
    retry: { max_attempts: 2, initial_interval: 100ms }
`);
  const id = runId('fail');
  await h.baton.start(def, 'x', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain("script 'fail' of step 'broken' exited with code 3");
  expect(err.message).toContain('boom: the disk is full');
  expect(err.progress?.error?.type).toBe('ScriptFailed');
  expect(readFileSync(attempts, 'utf8')).toBe('xx');
});

test('idempotent: false runs a failing script once', async () => {
  const def = yaml(`agents:
  - { name: once, kind: script, command: fail, idempotent: false, retry: { max_attempts: 5, initial_interval: 100ms } }
`);
  const before = readFileSync(attempts, 'utf8').length;
  const id = runId('once');
  await h.baton.start(def, 'x', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err.message).toContain('exited with code 3');
  expect(err.message).toContain('not run again');
  expect(readFileSync(attempts, 'utf8').length - before).toBe(1);
});

test('timeout_seconds bounds an attempt; the script is stopped', async () => {
  const def = yaml(`agents:
  - { name: slow, kind: script, command: sleepy, timeout_seconds: 1, idempotent: false }
`);
  const id = runId('timeout');
  await h.baton.start(def, 'x', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.progress?.steps.find((s) => s.name === 'slow')?.status).toBe('failed');
  expect(err.message).toMatch(/timeout/i);
});

test("a run naming a script the worker's config does not list fails before anything runs", async () => {
  const def = yaml(`agents:
  - name: first
    prompt: "should never be asked"
  - { name: evil, kind: script, command: rm-rf, depends_on: [first] }
`);
  const id = runId('unlisted');
  await h.baton.start(def, 'x', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain(
    "step 'evil' names script 'rm-rf', which this worker's config does not allow",
  );
  expect(err.message).toContain('it allows: fail, plain, sleepy, upper');
  expect(err.progress?.error?.type).toBe('NotAllowedByWorker');
  expect(h.fake.count()).toBe(0);
});

test('args on a script whose entry does not set allow_args are refused before anything runs', async () => {
  const def = yaml(`agents:\n  - { name: p, kind: script, command: plain, args: ["--x"] }\n`);
  const id = runId('args');
  await h.baton.start(def, '', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err.message).toContain('does not let runs add arguments');
});

test('the YAML loader refuses a script step with bad fields, naming them', () => {
  expect(() => yaml(`agents:\n  - { name: p, kind: script, command: "ls -la" }\n`)).toThrow(/command/);
  expect(() => yaml(`agents:\n  - { name: p, kind: script, command: x, prompt: hi }\n`)).toThrow(/prompt/);
});
