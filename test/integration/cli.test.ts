import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeModelServer } from '../support/fake-model-server';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
let fake: FakeModelServer;
let dir: string;

beforeAll(async () => {
  fake = await FakeModelServer.start();
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-'));
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

/** Run the real `baton` command; resolves with its exit code and output. */
function baton(args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) {
  const { address, namespace } = testTemporal();
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        BATON_FROM_SOURCE: '1',
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: fake.openaiBaseURL,
        ...opts.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.stdin ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ensemble(name: string, yaml: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

const reviewYaml = `
name: review
profiles:
  fake: { provider: openai, model: gpt-test }
default_profile: fake
agents:
  - name: lint
    prompt: "lint this: {{input}}"
  - name: summary
    depends_on: [lint]
    prompt: "summarise: {{lint}}"
`;

test('--help lists the commands and the exit codes', async () => {
  const r = await baton(['--help']);
  expect(r.code).toBe(0);
  for (const c of ['demo', 'worker', 'server', 'validate', 'run', 'status', 'list', 'cancel']) expect(r.stdout).toContain(c);
  expect(r.stdout).toMatch(/Exit codes:/);
});

test('validate accepts a good ensemble and refuses a bad one with file, line and field path', async () => {
  const good = ensemble('good', reviewYaml);
  const bad = ensemble('bad', reviewYaml.replace('depends_on: [lint]', 'depends_on: [lnt]'));
  expect((await baton(['validate', good])).code).toBe(0);
  const r = await baton(['validate', bad]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`${bad}:10:`);
  expect(r.stderr).toContain("agents[1].depends_on[0]  unknown step 'lnt'; did you mean 'lint'?");
});

test('run reads piped stdin, follows the run and prints JSON', async () => {
  fake.on('lint this: const x = 1', { text: 'LINT-OK' });
  fake.on('summarise: LINT-OK', { text: 'ALL GOOD' });
  const file = ensemble('review', reviewYaml);
  const r = await baton(['run', file, '--local-worker', '--task-queue', `cli-${Date.now()}`, '-o', 'json'], { stdin: 'const x = 1' });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.output).toBe('ALL GOOD');
  expect(result.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual(['lint:completed', 'summary:completed']);

  // status and list find the finished run on the same server.
  const status = await baton(['status', result.runId, '-o', 'json']);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).output).toBe('ALL GOOD');
  const list = await baton(['list', '-o', 'json', '--limit', '200']);
  expect(JSON.parse(list.stdout).map((x: { runId: string }) => x.runId)).toContain(result.runId);
});

test('text output prints only the run output; rich output shows each step', async () => {
  fake.on('lint this', { text: 'L' });
  fake.on('summarise', { text: 'S' });
  const file = ensemble('review2', reviewYaml);
  const text = await baton(['run', file, 'abc', '--local-worker', '--task-queue', `cli-t-${Date.now()}`, '-o', 'text']);
  expect(text.code).toBe(0);
  expect(text.stdout).toBe('S\n');
  const rich = await baton(['run', file, 'abc', '--local-worker', '--task-queue', `cli-r-${Date.now()}`]);
  expect(rich.code).toBe(0);
  expect(rich.stderr).toMatch(/✓ lint/);
  expect(rich.stderr).toMatch(/✓ summary/);
  expect(rich.stderr).toMatch(/usage: \d+ input tokens/);
});

test('a failing step exits 1 and names the step and the provider message', async () => {
  fake.on('summarise', { status: 401, message: 'Incorrect API key provided' });
  const file = ensemble('review3', reviewYaml);
  const r = await baton(['run', file, 'x', '--local-worker', '--task-queue', `cli-f-${Date.now()}`]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/step 'summary' failed: openai rejected the API key \(HTTP 401\): Incorrect API key provided/);
});

test('a missing key is refused before anything starts', async () => {
  const file = ensemble('review4', reviewYaml);
  const r = await baton(['run', file, 'x', '--local-worker'], { env: { OPENAI_API_KEY: '' } });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/OPENAI_API_KEY is not set \(needed by lint \(fake\), summary \(fake\)\).*nothing was started/);
  expect(fake.count()).toBe(0);
});

test('an unknown ensemble name says where it looked', async () => {
  const r = await baton(['run', 'no-such-ensemble', 'x']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/no-such-ensemble/);
});

test('an unreachable server exits 3 with what to do', async () => {
  const r = await baton(['status', 'some-run'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } });
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(/no Temporal server answered at 127\.0\.0\.1:1.*baton server/);
});

describe('replay, retry and fork', () => {
  const queue = `cli-lineage-${Date.now()}`;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    // Retry and fork start runs for workers elsewhere: here, one in the test process.
    const { NativeConnection } = await import('@temporalio/worker');
    const { createWorker } = await import('../../src/worker');
    const { fakeEnv, workflowBundle } = await import('../support/harness');
    const { connectionOptions, namespace } = testTemporal();
    const connection = await NativeConnection.connect(connectionOptions);
    const worker = await createWorker({ connection, namespace, taskQueue: queue, env: fakeEnv(fake), workflowBundle: await workflowBundle() });
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
      await connection.close();
    };
  });
  afterAll(async () => {
    await stopWorker?.();
  });

  test('replay checks a run, a history file, and reports changed code with exit 1', async () => {
    fake.on('lint this', { text: 'L' });
    fake.on('summarise', { text: 'S' });
    const file = ensemble('replayed', reviewYaml);
    const run = await baton(['run', file, 'x', '--local-worker', '--task-queue', `cli-rp-${Date.now()}`, '-o', 'json']);
    const { runId } = JSON.parse(run.stdout);
    const saved = join(dir, 'history.json');

    const ok = await baton(['replay', runId, '--save', saved]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: \d+ events replay against the current code/);
    expect((await baton(['replay', '--history', saved])).code).toBe(0);

    const drifted = await baton(['replay', '--history', saved, '--workflows', join(__dirname, '..', 'support', 'drifted-workflows.ts')]);
    expect(drifted.code).toBe(1);
    expect(drifted.stderr).toMatch(/replay failed: at event \d+ \(step 'lint'\)/);
  });

  test('retry finishes a failed run without paying for its completed steps; fork reruns from a step', async () => {
    fake.on('lint this', { text: 'LINT' });
    fake.on('summarise', { status: 500, message: 'down' });
    const file = ensemble('retried', reviewYaml.replace('prompt: "summarise', 'retry: { max_attempts: 1 }\n    prompt: "summarise'));
    const failed = await baton(['run', file, 'x', '--no-local-worker', '--task-queue', queue, '-o', 'json'], { env: { BATON_TASK_QUEUE: queue } });
    expect(failed.code).toBe(1);
    const runId = JSON.parse(failed.stdout).runId as string;

    fake.reset();
    fake.on('summarise', { text: 'FIXED' });
    const retried = await baton(['retry', runId, '--follow'], { env: { BATON_TASK_QUEUE: queue } });
    expect(retried.code).toBe(0);
    const newRun = retried.stdout.trim();
    expect(retried.stderr).toContain(`retry of ${runId} started as run ${newRun}`);
    expect(fake.count('lint this')).toBe(0);
    expect(fake.count('summarise')).toBe(1);
    const status = JSON.parse((await baton(['status', newRun, '-o', 'json'])).stdout);
    expect(status.output).toBe('FIXED');
    expect(status.parent).toEqual({ runId, kind: 'retry' });

    const forked = await baton(['fork', newRun, '--from', 'summary', '--prompt', 'summarise again: {{lint}}', '--follow'], {
      env: { BATON_TASK_QUEUE: queue },
    });
    expect(forked.code).toBe(0);
    expect(fake.count('summarise again: LINT')).toBe(1);
    expect(fake.count('lint this')).toBe(0);

    const bad = await baton(['fork', newRun, '--from', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/has no step 'nope'; its steps are: lint, summary/);
  });
});

test('--tools registers a module of tools on the local worker and checks tool names', async () => {
  const tools = join(__dirname, '..', '..', 'examples', 'tools.ts');
  const file = ensemble('tools', `
name: with-tools
default_profile: offline
agents:
  - name: researcher
    tools: [search]
    max_iterations: 4
    prompt: "Find facts about {{input}}"
`);
  const r = await baton(['run', file, 'france', '--local-worker', '--task-queue', `cli-tools-${Date.now()}`, '--tools', tools, '-o', 'json']);
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.steps[0].toolCalls).toBeGreaterThanOrEqual(1);

  const unknown = ensemble('unknown-tool', `
name: unknown-tool
default_profile: offline
agents:
  - name: researcher
    tools: [serch]
    prompt: "{{input}}"
`);
  const v = await baton(['validate', unknown, '--tools', tools]);
  expect(v.code).toBe(2);
  expect(v.stderr).toMatch(/serch/);
  const missing = await baton(['validate', unknown, '--tools', join(dir, 'nope.ts')]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/tools module .*nope\.ts does not exist/);
});

test('baton worker polls its task queue, and SIGTERM shuts it down gracefully (exit 0)', async () => {
  const { address, namespace } = testTemporal();
  const child = spawn(process.execPath, [BIN, 'worker', '--task-queue', `cli-worker-${Date.now()}`], {
    env: { PATH: process.env.PATH, HOME: dir, BATON_FROM_SOURCE: '1', TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => stderr.includes('polling task queue') && (clearInterval(timer), resolve()), 100);
    child.once('exit', (code) => (clearInterval(timer), reject(new Error(`worker exited early (${code}): ${stderr}`))));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(stderr).toMatch(/baton worker: polling task queue 'cli-worker-\d+' at /);
});
