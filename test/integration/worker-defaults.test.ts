/**
 * `baton worker` on its defaults (docs/operations.md#baton-worker-memory-defaults): the worker runs
 * in a process started with a 160 MB heap limit and MALLOC_ARENA_MAX=2, signals pass through, the
 * worker exits with its starter, and it keeps at most 50 runs in its workflow cache.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatonClient } from '../../src/client';
import { freePort } from '../../src/server';
import type { EnsembleDefinition } from '../../src/types';
import { terminateRuns, testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
const { workerMemorySettings } = require('../../bin/worker-memory.js') as {
  workerMemorySettings: (
    env: NodeJS.ProcessEnv,
    execArgv: string[],
    platform?: string,
  ) => { nodeArgs: string[]; env: Record<string, string> } | undefined;
};

let connection: Connection;
let home: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  connection = await Connection.connect(testTemporal().connectionOptions);
  home = mkdtempSync(join(tmpdir(), 'baton-worker-defaults-'));
});
afterAll(async () => {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  await connection?.close();
});

function childrenOf(pid: number): number[] {
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** `baton worker` as `node bin/baton.js worker`, or (`asCommand`) as the command itself, which sh starts. */
async function startWorker(taskQueue: string, env: NodeJS.ProcessEnv = {}, asCommand = false) {
  const { address, namespace } = testTemporal();
  const args = ['worker', '--task-queue', taskQueue];
  const child = spawn(asCommand ? BIN : process.execPath, asCommand ? args : [BIN, ...args], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      BATON_FROM_SOURCE: '1',
      BATON_LOG_LEVEL: 'ERROR',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('polling task queue')) resolve();
    });
    void exited.then((code) => reject(new Error(`baton worker exited ${code}: ${stderr}`)));
  });
  return { child, exited, stderr: () => stderr };
}

test('the memory settings: a 160 MB heap limit, 8 MB semi-spaces and two malloc arenas unless set; a bad heap size is refused', () => {
  expect(workerMemorySettings({}, [], 'linux')).toEqual({
    nodeArgs: ['--max-old-space-size=160', '--max-semi-space-size=8'],
    env: { MALLOC_ARENA_MAX: '2' },
  });
  expect(workerMemorySettings({ NODE_OPTIONS: '--max-semi-space-size=2' }, [], 'linux')).toEqual({
    nodeArgs: ['--max-old-space-size=160'],
    env: { MALLOC_ARENA_MAX: '2' },
  });
  expect(workerMemorySettings({ BATON_WORKER_HEAP_MB: '512', MALLOC_ARENA_MAX: '4' }, [], 'linux')).toEqual({
    nodeArgs: ['--max-old-space-size=512', '--max-semi-space-size=8'],
    env: {},
  });
  expect(workerMemorySettings({ NODE_OPTIONS: '--max-old-space-size=300' }, [], 'darwin')).toBeUndefined();
  expect(
    workerMemorySettings({ BATON_WORKER_HEAP_MB: '0', MALLOC_ARENA_MAX: '8' }, [], 'linux'),
  ).toBeUndefined();
  expect(workerMemorySettings({ BATON_WORKER_CHILD: '1' }, [], 'linux')).toBeUndefined();
  expect(() => workerMemorySettings({ BATON_WORKER_HEAP_MB: '12' }, [])).toThrow(
    /BATON_WORKER_HEAP_MB=12 is not a whole number of MB of at least 64/,
  );
});

test('baton worker runs in a process with the heap limit and MALLOC_ARENA_MAX=2, keeps at most 50 runs cached, and drains on SIGTERM', async () => {
  const taskQueue = `worker-defaults-${process.pid}-${Date.now()}`;
  const metrics = `127.0.0.1:${await freePort()}`;
  const w = await startWorker(taskQueue, { BATON_METRICS_PORT: metrics });
  const [worker] = childrenOf(w.child.pid!);
  expect(worker).toBeDefined();
  expect(readFileSync(`/proc/${worker}/cmdline`, 'utf8').split('\0')).toEqual(
    expect.arrayContaining(['--max-old-space-size=160', '--max-semi-space-size=8']),
  );
  expect(readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');

  // 60 runs parked on approval: the cache holds 50 of them.
  const baton = await BatonClient.connect({ connection, namespace: testTemporal().namespace, taskQueue });
  const def: EnsembleDefinition = {
    name: 'parked',
    steps: [
      {
        kind: 'approval',
        name: 'ok',
        dependsOn: [],
        present: '{{input}}',
        deadline: '1 hour',
        onTimeout: 'reject',
      },
    ],
  };
  const ids = await Promise.all(
    Array.from(
      { length: 60 },
      async (_, i) => (await baton.start(def, `d${i}`, { runId: `${taskQueue}-${i}` })).runId,
    ),
  );
  for (const id of ids)
    while ((await baton.pendingApprovals(id)).length === 0) await new Promise((r) => setTimeout(r, 200));
  const text = await (await fetch(`http://${metrics}/metrics`)).text();
  const cached = text
    .split('\n')
    .filter((l) => l.startsWith('temporal_sticky_cache_size'))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  expect(cached).toBe(50);

  w.child.kill('SIGTERM');
  expect(await w.exited).toBe(0);
  expect(alive(worker!)).toBe(false);
  // Their worker is gone: end them, so other files' listings do not meet them.
  await terminateRuns(ids);
}, 300_000);

test('started as a command, baton worker is one process: sh replaced by node with the heap limit and MALLOC_ARENA_MAX=2', async () => {
  const w = await startWorker(`worker-defaults-exec-${process.pid}-${Date.now()}`, {}, true);
  const pid = w.child.pid!;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  expect(cmdline).toContain('--max-old-space-size=160');
  expect(cmdline).toContain('--max-semi-space-size=8');
  expect(cmdline).toContain('worker');
  expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
  expect(childrenOf(pid)).toEqual([]);
  w.child.kill('SIGTERM');
  expect(await w.exited).toBe(0);
}, 300_000);

test('started as a command, baton worker refuses a bad BATON_WORKER_HEAP_MB with exit code 2', async () => {
  const child = spawn(BIN, ['worker'], {
    env: { PATH: process.env.PATH, HOME: home, BATON_FROM_SOURCE: '1', BATON_WORKER_HEAP_MB: '12' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  expect(code).toBe(2);
  expect(stderr).toMatch(/BATON_WORKER_HEAP_MB=12 is not a whole number of MB/);
});

test('the worker exits when the process that started it is killed', async () => {
  const w = await startWorker(`worker-defaults-kill-${process.pid}-${Date.now()}`);
  const [worker] = childrenOf(w.child.pid!);
  w.child.kill('SIGKILL');
  await w.exited;
  for (let i = 0; i < 100 && alive(worker!); i++) await new Promise((r) => setTimeout(r, 100));
  expect(alive(worker!)).toBe(false);
}, 300_000);

test('with the settings given, baton worker runs in one process', async () => {
  const w = await startWorker(`worker-defaults-one-${process.pid}-${Date.now()}`, {
    BATON_WORKER_HEAP_MB: '0',
    MALLOC_ARENA_MAX: '4',
  });
  expect(
    childrenOf(w.child.pid!).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('baton.js')),
  ).toEqual([]);
  w.child.kill('SIGTERM');
  expect(await w.exited).toBe(0);
}, 300_000);
