import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeModelServer } from '../support/fake-model-server';
import { terminateRuns, testLogLevel, testTemporal } from '../support/temporal-env';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'baton.js');
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

/**
 * Run the real `baton` command (from source, or `entry`: another build of it); resolves with its
 * exit code and output. `onStderr` sees the child's error output as it comes, to signal it.
 */
function baton(
  args: string[],
  opts: {
    stdin?: string;
    env?: NodeJS.ProcessEnv;
    entry?: string;
    onStderr?: (text: string, child: ReturnType<typeof spawn>) => void;
  } = {},
) {
  const { address, namespace } = testTemporal();
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [opts.entry ?? BIN, ...args], {
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
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      opts.onStderr?.(stderr, child);
    });
    child.stdin.end(opts.stdin ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ensemble(name: string, yaml: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

const gatedYaml = `
name: gated
profiles:
  fake: { provider: openai, model: gpt-test }
default_profile: fake
agents:
  - name: draft
    prompt: "draft this: {{input}}"
  - name: gate
    kind: approval
    depends_on: [draft]
    deadline: 1h
  - name: publish
    depends_on: [gate]
    prompt: "publish: {{gate}}"
`;

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
  for (const c of ['demo', 'worker', 'server', 'validate', 'run', 'status', 'list', 'cancel'])
    expect(r.stdout).toContain(c);
  expect(r.stdout).toMatch(/Exit codes:/);
  for (const v of [
    'BATON_TOOLS',
    'BATON_LOG_LEVEL',
    'BATON_MAX_CONCURRENT_ACTIVITIES',
    'BATON_API_TOKEN',
    'BATON_TEMPORAL_CACHE_DIR',
  ])
    expect(r.stdout).toContain(v);
  expect(r.stdout).toMatch(/130 interrupted/);
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
  const r = await baton(['run', file, '--local-worker', '--task-queue', `cli-${Date.now()}`, '-o', 'json'], {
    stdin: 'const x = 1',
    env: { USER: 'cli-tester' },
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.output).toBe('ALL GOOD');
  expect(result.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
    'lint:completed',
    'summary:completed',
  ]);

  // status and list find the finished run on the same server.
  const status = await baton(['status', result.runId, '-o', 'json']);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).output).toBe('ALL GOOD');
  const list = await baton(['list', '-o', 'json', '--limit', '200']);
  expect(JSON.parse(list.stdout).map((x: { runId: string }) => x.runId)).toContain(result.runId);
  // The run records who started it: locally, $USER.
  expect(JSON.parse(list.stdout).find((x: { runId: string }) => x.runId === result.runId)).toMatchObject({
    startedBy: 'cli-tester',
  });
});

test('baton api refuses to listen beyond loopback without keys; keygen and hash-key make entries', async () => {
  // Refused before it connects: the Temporal address here leads nowhere.
  const open = await baton(['api', '--host', '0.0.0.0', '--port', '0'], {
    env: { TEMPORAL_ADDRESS: '127.0.0.1:1' },
  });
  expect(open.code).toBe(2);
  expect(open.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without authentication/);
  const badKeys = await baton(['api', '--keys-file', join(dir, 'no-such-keys')], {
    env: { TEMPORAL_ADDRESS: '127.0.0.1:1' },
  });
  expect(badKeys.code).toBe(2);
  expect(badKeys.stderr).toMatch(/cannot read the keys file/);

  const made = await baton(['api', 'keygen', '--principal', 'ops', '--scopes', 'read,decide']);
  expect(made.code).toBe(0);
  const key = /^key: +(\S+)$/m.exec(made.stdout)![1]!;
  const entry = /^entry: +(\S+)$/m.exec(made.stdout)![1]!;
  const hashed = await baton(['api', 'hash-key'], { stdin: key });
  expect(hashed.code).toBe(0);
  expect(entry).toBe(`ops:read,decide:${hashed.stdout.trim()}`);
  expect(entry).not.toContain(key);
  const badScope = await baton(['api', 'keygen', '--principal', 'ops', '--scopes', 'root']);
  expect(badScope.code).toBe(2);
  expect(badScope.stderr).toMatch(/unknown scope 'root'/);
});

test('text output prints only the run output; rich output shows each step', async () => {
  fake.on('lint this', { text: 'L' });
  fake.on('summarise', { text: 'S' });
  const file = ensemble('review2', reviewYaml);
  const text = await baton([
    'run',
    file,
    'abc',
    '--local-worker',
    '--task-queue',
    `cli-t-${Date.now()}`,
    '-o',
    'text',
  ]);
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
  expect(r.stderr).toMatch(
    /step 'summary' failed: openai rejected the API key \(HTTP 401\): Incorrect API key provided/,
  );
});

test('a missing key is refused before anything starts', async () => {
  const file = ensemble('review4', reviewYaml);
  const r = await baton(['run', file, 'x', '--local-worker'], { env: { OPENAI_API_KEY: '' } });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(
    /OPENAI_API_KEY is not set \(needed by lint \(fake\), summary \(fake\)\).*nothing was started/,
  );
  expect(fake.count()).toBe(0);
});

test('an unknown ensemble name says where it looked', async () => {
  const r = await baton(['run', 'no-such-ensemble', 'x']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/no-such-ensemble/);
});

test('an unreachable server exits 3 with what to do, for clients and for a worker', async () => {
  const r = await baton(['status', 'some-run'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } });
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(
    /^baton: no Temporal server answered at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\): .*check that it runs, or unset TEMPORAL_ADDRESS/i,
  );
  expect(r.stderr).not.toMatch(/PATH|Go /);

  const w = await baton(['worker'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } });
  expect(w.code).toBe(3);
  expect(w.stderr).toMatch(
    /^baton: no Temporal server answered at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\): connection refused\. /,
  );
  expect(w.stderr).not.toMatch(/tonic/);
  expect(w.stderr.trim().split('\n')).toHaveLength(1);
});

test('bad worker settings and --detach with --local-worker are refused before anything starts (exit 2)', async () => {
  const w = await baton(['worker'], { env: { BATON_MAX_CONCURRENT_ACTIVITIES: 'abc' } });
  expect(w.code).toBe(2);
  expect(w.stderr).toBe('baton: BATON_MAX_CONCURRENT_ACTIVITIES=abc is not a positive whole number\n');

  const file = ensemble('review-settings', reviewYaml);
  const r = await baton(['run', file, 'x', '--local-worker'], { env: { BATON_MAX_CACHED_WORKFLOWS: '-1' } });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/BATON_MAX_CACHED_WORKFLOWS=-1 is not a positive whole number/);

  const d = await baton(['run', file, 'x', '--detach', '--local-worker']);
  expect(d.code).toBe(2);
  expect(d.stderr).toMatch(/--detach and --local-worker do not go together/);
  expect(fake.count()).toBe(0);
});

test('Ctrl-C while following a run stops the local worker and exits 130', async () => {
  fake.on('draft this', { text: 'DRAFT' });
  const file = ensemble('gated', gatedYaml);
  const r = await baton(['run', file, 'x', '--local-worker', '--task-queue', `cli-int-${Date.now()}`], {
    // Interrupt once the run waits at its gate: the follow would otherwise last until a decision.
    onStderr: (text, child) => void (/⏸ gate/.test(text) && !child.killed && child.kill('SIGINT')),
  });
  expect(r.code).toBe(130);
  expect(r.stderr).toMatch(
    /baton: interrupted \(SIGINT\); run gated-\S+ stays on the server \(`baton status gated-\S+`\)\n$/,
  );
  // It stays parked with no worker: end it, so other files' listings do not meet it.
  await terminateRuns([/run (gated-\S+) stays/.exec(r.stderr)![1]!]);
});

describe('with a worker in the test process: replay, retry, fork, approvals', () => {
  const queue = `cli-lineage-${Date.now()}`;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    // Retry and fork start runs for workers elsewhere: here, one in the test process.
    const { NativeConnection } = await import('@temporalio/worker');
    const { createWorker } = await import('../../src/worker');
    const { fakeEnv, workflowBundle } = await import('../support/harness');
    const { connectionOptions, namespace } = testTemporal();
    const { DefaultLogger, Runtime } = await import('@temporalio/worker');
    try {
      Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
    } catch {
      // Already installed in this jest worker.
    }
    const connection = await NativeConnection.connect(connectionOptions);
    const worker = await createWorker({
      connection,
      namespace,
      taskQueue: queue,
      env: fakeEnv(fake),
      workflowBundle: await workflowBundle(),
    });
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
    const run = await baton([
      'run',
      file,
      'x',
      '--local-worker',
      '--task-queue',
      `cli-rp-${Date.now()}`,
      '-o',
      'json',
    ]);
    const { runId } = JSON.parse(run.stdout);
    const saved = join(dir, 'history.json');

    const ok = await baton(['replay', runId, '--save', saved]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: \d+ events replay against the current code/);
    expect((await baton(['replay', '--history', saved])).code).toBe(0);

    const drifted = await baton([
      'replay',
      '--history',
      saved,
      '--workflows',
      join(__dirname, '..', 'support', 'drifted-workflows.ts'),
    ]);
    expect(drifted.code).toBe(1);
    expect(drifted.stderr).toMatch(/replay failed: at event \d+ \(step 'lint'\)/);

    // Exit 1 means drift only: a missing module is bad input, one that does not bundle an error.
    const missing = await baton([
      'replay',
      '--history',
      saved,
      '--workflows',
      join(dir, 'no-such-workflows.ts'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--workflows .*no-such-workflows\.ts does not exist/);
    const broken = join(dir, 'broken-workflows.ts');
    writeFileSync(broken, "export * from './no-such-module';\n");
    const unbundled = await baton(['replay', '--history', saved, '--workflows', broken]);
    expect(unbundled.code).toBe(4);
    // (The SDK logs webpack's own report above the one line.)
    expect(unbundled.stderr).toMatch(
      /^baton: replay could not check the history: Webpack finished with errors/m,
    );
  });

  test('status shows the gates a run waits at and the decisions taken', async () => {
    fake.on('draft this', { text: 'DRAFT' });
    fake.on('publish', { text: 'PUBLISHED' });
    const file = ensemble('gated-status', gatedYaml);
    const env = { BATON_TASK_QUEUE: queue };
    const started = await baton(['run', file, 'x', '--detach', '--task-queue', queue], { env });
    expect(started.code).toBe(0);
    const runId = started.stdout.trim();

    let status = await baton(['status', runId], { env });
    for (let i = 0; i < 50 && !status.stdout.includes('waits for a decision'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = await baton(['status', runId], { env });
    }
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /⏸ gate 'gate' \(draft\) waits for a decision, deadline in \d+m \(then reject\): .*DRAFT/,
    );
    expect(status.stdout).toContain(`decide with: baton approve ${runId} [gate]`);

    const approved = await baton(['approve', runId, '--by', 'alice', '--comment', 'fine'], { env });
    expect(approved.code).toBe(0);
    const done = await baton(['result', runId], { env });
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`✓ approved gate 'gate' of run ${runId} (by alice: fine)`);
    expect(done.stdout).not.toContain('waits for a decision');
  });

  test('approve --max-tokens raises a budget gate and the run finishes; a bad limit is refused', async () => {
    fake.on('first call', { text: 'ONE', usage: { input: 150, output: 20 } });
    fake.on('second call', { text: 'TWO', usage: { input: 10, output: 5 } });
    const file = ensemble(
      'capped-cli',
      `
name: capped-cli
profiles:
  fake: { provider: openai, model: gpt-test, max_tokens: 20 }
default_profile: fake
budget: { max_tokens: 200 }
agents:
  - name: one
    prompt: "first call {{input}}"
  - name: two
    depends_on: [one]
    prompt: "second call {{one}}"
`,
    );
    const env = { BATON_TASK_QUEUE: queue };
    const started = await baton(['run', file, 'x', '--detach', '--task-queue', queue], { env });
    expect(started.code).toBe(0);
    const runId = started.stdout.trim();
    let listed = await baton(['approvals', '-o', 'text'], { env });
    for (let i = 0; i < 100 && !listed.stdout.includes(`${runId}\tbudget`); i++) {
      await new Promise((r) => setTimeout(r, 200));
      listed = await baton(['approvals', '-o', 'text'], { env });
    }
    expect(listed.stdout).toContain(`${runId}\tbudget`);

    const bad = await baton(['approve', runId, 'budget', '--by', 'alice', '--max-tokens', '1.5'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-tokens 1.5');
    const raised = await baton(['approve', runId, 'budget', '--by', 'alice', '--max-tokens', '5000'], {
      env,
    });
    expect(raised.code).toBe(0);
    expect(raised.stdout).toContain(`approved gate 'budget' of run ${runId} (by alice)`);
    const done = await baton(['result', runId, '-o', 'json'], { env });
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({
      status: 'completed',
      output: 'TWO',
      budget: { limit: { maxTokens: 5000 } },
    });
    expect(fake.count('second call')).toBe(1);

    // A fork that counts the lineage's spending (185 tokens) against its budget (the ensemble's
    // 200): its step 'two' does not fit, so it waits at its own budget gate.
    const forkId = `${runId}-fork`;
    const forked = await baton(['fork', runId, '--from', 'two', '--lineage-budget', '--run-id', forkId], {
      env,
    });
    expect(forked.code).toBe(0);
    let forkGate = await baton(['approvals', '-o', 'text'], { env });
    for (let i = 0; i < 100 && !forkGate.stdout.includes(`${forkId}\tbudget`); i++) {
      await new Promise((r) => setTimeout(r, 200));
      forkGate = await baton(['approvals', '-o', 'text'], { env });
    }
    expect(forkGate.stdout).toContain(`${forkId}\tbudget`);
    expect((await baton(['reject', forkId, 'budget', '--by', 'alice'], { env })).code).toBe(0);
    const forkDone = await baton(['result', forkId, '-o', 'json'], { env });
    expect(forkDone.code).not.toBe(0);
    expect(forkDone.stdout + forkDone.stderr).toContain('used 185 tokens of max_tokens 200');
    expect(fake.count('second call')).toBe(1);
  });

  test('retry finishes a failed run without paying for its completed steps; fork reruns from a step', async () => {
    fake.on('lint this', { text: 'LINT' });
    fake.on('summarise', { status: 500, message: 'down' });
    const file = ensemble(
      'retried',
      reviewYaml.replace('prompt: "summarise', 'retry: { max_attempts: 1 }\n    prompt: "summarise'),
    );
    const failed = await baton(['run', file, 'x', '--no-local-worker', '--task-queue', queue, '-o', 'json'], {
      env: { BATON_TASK_QUEUE: queue },
    });
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

    const forked = await baton(
      ['fork', newRun, '--from', 'summary', '--prompt', 'summarise again: {{lint}}', '--follow'],
      {
        env: { BATON_TASK_QUEUE: queue },
      },
    );
    expect(forked.code).toBe(0);
    expect(fake.count('summarise again: LINT')).toBe(1);
    expect(fake.count('lint this')).toBe(0);

    const bad = await baton(['fork', newRun, '--from', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/has no step 'nope'; its steps are: lint, summary/);
  });

  test('retry --completed counts a step as done with the given output: it is not run again', async () => {
    fake.on('lint this', { text: 'LINT' });
    fake.on('summarise', { status: 500, message: 'down' });
    const file = ensemble(
      'marked-done',
      reviewYaml.replace('prompt: "summarise', 'retry: { max_attempts: 1 }\n    prompt: "summarise'),
    );
    const failed = await baton(['run', file, 'x', '--no-local-worker', '--task-queue', queue, '-o', 'json'], {
      env: { BATON_TASK_QUEUE: queue },
    });
    expect(failed.code).toBe(1);
    const runId = JSON.parse(failed.stdout).runId as string;

    fake.reset();
    const retried = await baton(
      ['retry', runId, '--completed', 'summary=Checked by hand: done', '--follow'],
      {
        env: { BATON_TASK_QUEUE: queue },
      },
    );
    expect(retried.code).toBe(0);
    const status = JSON.parse((await baton(['status', retried.stdout.trim(), '-o', 'json'])).stdout);
    expect(status.output).toBe('Checked by hand: done');
    expect(fake.count()).toBe(0);

    const bad = await baton(['retry', runId, '--completed', 'summary']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      "expected <step>=<output>, e.g. --completed pay='Paid once (checked)'; got 'summary'",
    );
  });
});

test('--tools registers a module of tools on the local worker and checks tool names', async () => {
  const tools = join(__dirname, '..', '..', 'examples', 'tools.ts');
  const file = ensemble(
    'tools',
    `
name: with-tools
default_profile: offline
agents:
  - name: researcher
    tools: [search]
    max_iterations: 4
    prompt: "Find facts about {{input}}"
`,
  );
  const r = await baton([
    'run',
    file,
    'france',
    '--local-worker',
    '--task-queue',
    `cli-tools-${Date.now()}`,
    '--tools',
    tools,
    '-o',
    'json',
  ]);
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.steps[0].toolCalls).toBeGreaterThanOrEqual(1);

  const unknown = ensemble(
    'unknown-tool',
    `
name: unknown-tool
default_profile: offline
agents:
  - name: researcher
    tools: [serch]
    prompt: "{{input}}"
`,
  );
  const v = await baton(['validate', unknown, '--tools', tools]);
  expect(v.code).toBe(2);
  expect(v.stderr).toMatch(/serch/);
  const missing = await baton(['validate', unknown, '--tools', join(dir, 'nope.ts')]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/tools module .*nope\.ts does not exist/);
});

describe('the compiled CLI (as installed, not run from source)', () => {
  // A fresh build of this checkout, not dist/, which may be stale. Inside the project, so that the
  // build resolves node_modules (tsx among them) as an installed dist/ does.
  const out = join(ROOT, 'node_modules', '.cache', `baton-cli-test-${process.pid}`);
  const entry = join(out, 'cli', 'main.js');

  beforeAll(async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      out,
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ];
    // Type errors elsewhere in the tree still emit JavaScript; only a missing entry point is fatal here.
    await promisify(execFile)(process.execPath, [tsc, ...args], { cwd: ROOT }).catch(() => undefined);
    if (!existsSync(entry)) throw new Error(`the build wrote no ${entry}`);
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('--tools loads a TypeScript tools module through tsx', async () => {
    const tools = join(ROOT, 'examples', 'tools.ts');
    const file = ensemble(
      'tools-compiled',
      `
name: with-tools
default_profile: offline
agents:
  - name: researcher
    tools: [search]
    max_iterations: 4
    prompt: "Find facts about {{input}}"
`,
    );
    const env = { BATON_FROM_SOURCE: '' };
    const v = await baton(['validate', file, '--tools', tools], { entry, env });
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    const r = await baton(
      [
        'run',
        file,
        'france',
        '--local-worker',
        '--task-queue',
        `cli-tools-js-${Date.now()}`,
        '--tools',
        tools,
        '-o',
        'json',
      ],
      { entry, env },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).steps[0].toolCalls).toBeGreaterThanOrEqual(1);
  });
});

test('baton worker polls its task queue, and SIGTERM shuts it down gracefully (exit 0)', async () => {
  const { address, namespace } = testTemporal();
  const child = spawn(process.execPath, [BIN, 'worker', '--task-queue', `cli-worker-${Date.now()}`], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      BATON_FROM_SOURCE: '1',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
    },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(
      () => stderr.includes('polling task queue') && (clearInterval(timer), resolve()),
      100,
    );
    child.once(
      'exit',
      (code) => (clearInterval(timer), reject(new Error(`worker exited early (${code}): ${stderr}`))),
    );
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(stderr).toMatch(/baton worker: polling task queue 'cli-worker-\d+' at /);
});
