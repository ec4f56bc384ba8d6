/**
 * Rolling deploys: `baton worker` (the real command, in a child process) gets SIGTERM while model
 * calls are in flight. It stops polling, lets the calls finish within its grace time and exits 0;
 * a new worker finishes the runs, and no model request is made twice.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import type { ModelProfile } from '../../src/types';
import { FakeModelServer } from '../support/fake-model-server';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };

let fake: FakeModelServer;
let connection: Connection;
let home: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  fake = await FakeModelServer.start();
  connection = await Connection.connect(testTemporal().connectionOptions);
  home = mkdtempSync(join(tmpdir(), 'baton-drain-'));
});
afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  }
  await connection?.close();
  await fake?.close();
});
beforeEach(() => fake.reset());

interface CliWorker {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  /** Resolves once stderr matches. */
  says: (re: RegExp) => Promise<void>;
  /** The processes `baton worker` started (the worker runs in one it starts, bin/worker-memory.js). */
  workerPids: number[];
}

function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Start `baton worker` from source on `taskQueue`, with the fake as OpenAI, and wait until it polls. */
async function startCliWorker(taskQueue: string, args: string[] = []): Promise<CliWorker> {
  const { address, namespace } = testTemporal();
  const child = spawn(process.execPath, [BIN, 'worker', '--task-queue', taskQueue, ...args], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      BATON_FROM_SOURCE: '1',
      BATON_LOG_LEVEL: 'ERROR',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.openaiBaseURL,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  const watchers = new Set<{ re: RegExp; done: () => void }>();
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of watchers) {
      if (!w.re.test(stderr)) continue;
      watchers.delete(w);
      w.done();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const says = (re: RegExp) =>
    re.test(stderr)
      ? Promise.resolve()
      : Promise.race([
          new Promise<void>((done) => watchers.add({ re, done })),
          exited.then((code) => {
            throw new Error(`baton worker exited (${code}) before saying ${re}:\n${stderr}`);
          }),
        ]);
  await says(/polling task queue/);
  return { child, stderr: () => stderr, exited, says, workerPids: childPids(child.pid!) };
}

async function client(taskQueue: string): Promise<BatonClient> {
  return BatonClient.connect({ connection, namespace: testTemporal().namespace, taskQueue });
}

const queue = (what: string) => `drain-${what}-${process.pid}-${Date.now()}`;

test('SIGTERM drains: in-flight model calls finish on the old worker, which exits 0; a new worker finishes the runs and no model request is repeated', async () => {
  const taskQueue = queue('sigterm');
  const baton = await client(taskQueue);
  // Each first step takes a few seconds, far longer than the heartbeat timeout below: if the
  // draining worker stopped heartbeating, the server would time the calls out and retry them.
  let answered = 0;
  fake.on('drain-a', async () => {
    await new Promise((r) => setTimeout(r, 5000));
    answered++;
    return { text: 'A' };
  });
  fake.on('drain-b', { text: 'B' });

  const a = await startCliWorker(taskQueue);
  const def = chain('drain', [
    { name: 'a', profile, prompt: 'drain-a {{input}}' },
    { name: 'b', profile, prompt: 'drain-b {{a}} {{input}}' },
  ]);
  const inputs = ['r0', 'r1', 'r2'];
  const runIds: string[] = [];
  for (const input of inputs) {
    const { runId } = await baton.start(def, input, {
      runId: `${taskQueue}-${input}`,
      options: { heartbeatTimeout: '2s' },
    });
    runIds.push(runId);
  }
  await fake.waitFor('drain-a', inputs.length, 60_000);

  let answeredAtExit = -1;
  void a.exited.then(() => (answeredAtExit = answered));
  a.child.kill('SIGTERM');
  await a.says(/SIGTERM: stopped polling; waiting up to 10m for 3 running call\(s\) to finish/);
  // The deploy's new worker comes up while the old one drains.
  await startCliWorker(taskQueue);

  const results = await Promise.all(runIds.map((id) => baton.result(id)));
  expect(await a.exited).toBe(0);
  expect(answeredAtExit).toBe(inputs.length);
  expect(a.stderr()).toMatch(/baton worker: stopped\n/);
  for (const [i, input] of inputs.entries()) {
    expect(results[i]!.output).toBe('B');
    expect(results[i]!.steps.map((s) => s.attempts)).toEqual([1, 1]);
    expect(fake.count(`drain-a ${input}`)).toBe(1);
    expect(fake.count(`drain-b A ${input}`)).toBe(1);
  }
  expect(fake.count()).toBe(2 * inputs.length);
  // Who ran what: the first step on the draining worker, the second (started after SIGTERM) on the new one.
  // `baton worker` runs its worker in a process it starts (bin/worker-memory.js): either pid is the old worker.
  const oldPids = [a.child.pid!, ...a.workerPids];
  const fromOld = (identity: string) => oldPids.some((p) => identity.startsWith(`${p}@`));
  for (const runId of runIds) {
    const events = (await baton.temporal.workflow.getHandle(runId).fetchHistory()).events ?? [];
    const started = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.identity ?? '');
    expect(started).toHaveLength(2);
    expect(fromOld(started[0]!)).toBe(true);
    expect(fromOld(started[1]!)).toBe(false);
  }
});

test('a call still running when the grace time ends is cancelled, the worker exits 0, and another worker retries the call', async () => {
  const taskQueue = queue('grace');
  const baton = await client(taskQueue);
  fake.on('overlong', (_req, n) => (n === 0 ? { text: 'too late', delayMs: 60_000 } : { text: 'DONE' }));
  const a = await startCliWorker(taskQueue, ['--shutdown-grace', '1s']);
  const def = chain('grace', [{ name: 'a', profile, prompt: 'overlong {{input}}' }]);
  const { runId } = await baton.start(def, 'x', { runId: taskQueue, options: { heartbeatTimeout: '5s' } });
  await fake.waitFor('overlong', 1, 60_000);

  a.child.kill('SIGTERM');
  await a.says(/waiting up to 1s for 1 running call\(s\)/);
  expect(await a.exited).toBe(0);
  await startCliWorker(taskQueue);
  const result = await baton.result(runId);
  expect(result.output).toBe('DONE');
  expect(result.steps[0]!.attempts).toBe(2);
  expect(fake.count('overlong')).toBe(2);
});

test('a second SIGTERM exits at once (130); the call it cut off is retried by another worker', async () => {
  const taskQueue = queue('twice');
  const baton = await client(taskQueue);
  fake.on('cut short', (_req, n) => (n === 0 ? { text: 'too late', delayMs: 60_000 } : { text: 'DONE' }));
  const a = await startCliWorker(taskQueue);
  const def = chain('twice', [{ name: 'a', profile, prompt: 'cut short {{input}}' }]);
  const { runId } = await baton.start(def, 'x', { runId: taskQueue, options: { heartbeatTimeout: '2s' } });
  await fake.waitFor('cut short', 1, 60_000);

  a.child.kill('SIGTERM');
  await a.says(/stopped polling/);
  a.child.kill('SIGTERM');
  expect(await a.exited).toBe(130);
  expect(a.stderr()).toMatch(/SIGTERM again: exiting now; 1 call\(s\) still running will be retried/);
  await startCliWorker(taskQueue);
  const result = await baton.result(runId);
  expect(result.output).toBe('DONE');
  expect(fake.count('cut short')).toBe(2);
});

test('a shutdown grace without a unit is refused before connecting, naming the flag or variable (exit 2)', async () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'worker', ...args], {
        cwd: home,
        env: { PATH: process.env.PATH, HOME: home, BATON_FROM_SOURCE: '1', ...env },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
  const flag = await run(['--shutdown-grace', '600']);
  expect(flag.code).toBe(2);
  expect(flag.stderr).toMatch(/--shutdown-grace=600 is not a duration with a unit: give e\.g\. 10m, 90s/);
  const variable = await run([], { BATON_SHUTDOWN_GRACE: 'soon' });
  expect(variable.code).toBe(2);
  expect(variable.stderr).toMatch(/BATON_SHUTDOWN_GRACE=soon is not a duration with a unit/);
});

test('baton worker --help and baton --help document the shutdown grace, its variable and Kubernetes', async () => {
  const help = (args: string[]) =>
    new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: home,
        env: { PATH: process.env.PATH, HOME: home, BATON_FROM_SOURCE: '1' },
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', () => resolve(stdout));
    });
  const worker = (await help(['worker', '--help'])).replace(/\s+/g, ' ');
  expect(worker).toContain('--shutdown-grace <duration>');
  expect(worker).toMatch(/default: BATON_SHUTDOWN_GRACE or 10m/);
  expect(worker).toMatch(/A second signal exits at once \(130\)/);
  expect(worker).toMatch(/terminationGracePeriodSeconds above the grace time/);
  expect(await help(['--help'])).toMatch(
    /BATON_SHUTDOWN_GRACE\s+worker: how long SIGTERM lets running calls finish/,
  );
});
