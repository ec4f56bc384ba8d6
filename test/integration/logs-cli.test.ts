/**
 * Structured logs through the real `baton worker` (docs/observability.md): with
 * BATON_LOG_FORMAT=json every line on standard error is one JSON object.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import { FakeModelServer } from '../support/fake-model-server';
import { startCliWorker } from '../support/cli-worker';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
let fake: FakeModelServer;

beforeAll(async () => {
  fake = await FakeModelServer.start();
});
afterAll(async () => {
  await fake?.close();
});

test('baton worker with BATON_LOG_FORMAT=json writes one JSON object per line, with runId', async () => {
  fake.on('Logged', { text: 'L1', usage: { input: 3, output: 1 } });
  const { namespace, connectionOptions } = testTemporal();
  const taskQueue = `logs-worker-${Date.now()}`;
  const worker = await startCliWorker({
    taskQueue,
    openaiBaseURL: fake.openaiBaseURL,
    env: { BATON_LOG_FORMAT: 'json', BATON_LOG_LEVEL: 'INFO' },
  });
  const connection = await Connection.connect(connectionOptions);
  const runId = `logs-worker-${Date.now()}`;
  try {
    const baton = await BatonClient.connect({ connection, namespace, taskQueue, tracing: false });
    const def = chain('logged', [
      {
        name: 'only',
        profile: { name: 'oa', provider: 'openai', model: 'gpt-test' },
        prompt: 'Logged {{input}}',
      },
    ]);
    expect((await baton.run(def, 'x', { runId })).status).toBe('completed');
  } finally {
    await connection.close();
    worker.child.kill('SIGTERM');
  }
  expect(await worker.exited).toBe(0);
  const lines = worker
    .stderr()
    .split('\n')
    .filter((l) => l.trim() !== '');
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(entries.length).toBeGreaterThan(0);
  for (const e of entries) {
    expect(typeof e.level).toBe('string');
    expect(typeof e.time).toBe('string');
    expect(typeof e.message).toBe('string');
  }
  // The worker's own lines too.
  expect(entries).toContainEqual(
    expect.objectContaining({
      component: 'baton worker',
      message: expect.stringMatching(/^polling task queue/),
    }),
  );
  // Activity lines carry the run id (the SDK's workflowId) as runId.
  const call = entries.find((e) => e.message === 'model call completed' && e.runId === runId);
  expect(call).toMatchObject({
    level: 'info',
    runId,
    workflowId: runId,
    // The step the call belongs to, on every line of the call.
    step: 'only',
    activityType: 'callModel',
    model: 'gpt-test',
    inputTokens: 3,
    outputTokens: 1,
  });
});

test('baton worker refuses a BATON_LOG_FORMAT it does not know, naming it; --help tells of it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-logs-bad-'));
  const run = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, BATON_FROM_SOURCE: '1', ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const bad = await run(['worker'], { BATON_LOG_FORMAT: 'yaml' });
  expect(bad.stderr).toContain('BATON_LOG_FORMAT=yaml is not a log format: give json or text');
  expect(bad.code).not.toBe(0);
  const help = await run(['worker', '--help'], {});
  expect(help.stdout).toContain('BATON_LOG_FORMAT=json');
});
