/**
 * `baton run` and `baton demo` with their worker in the same process start the run eagerly (the
 * client is made on that worker's connection): the server records the start as eager. With the
 * worker elsewhere, the run starts the usual way. Input is still checked before anything starts.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBaton } from '../support/cli';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
let dir: string;

beforeAll(async () => {
  h = await startHarness();
  dir = mkdtempSync(join(tmpdir(), 'baton-eager-cli-'));
  writeFileSync(
    join(dir, 'eager.yaml'),
    `name: eager-cli
profiles:
  fake: { provider: openai, model: gpt-test }
default_profile: fake
agents:
  - name: first
    prompt: "eager first {{input}}"
  - name: second
    depends_on: [first]
    prompt: "eager second {{first}}"
`,
  );
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

function baton(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runBaton(args, {
    cwd: dir,
    env: {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: h.fake.openaiBaseURL,
      ...(process.env.BATON_CODEC_KEYS && { BATON_CODEC_KEYS: process.env.BATON_CODEC_KEYS }),
      ...env,
    },
  });
}

/** Whether the server accepted the run's start as eager (its first workflow task went back with the start). */
async function startedEagerly(runId: string): Promise<boolean> {
  const { events } = await h.baton.handle(runId).fetchHistory();
  const started = events?.[0]?.workflowExecutionStartedEventAttributes;
  expect(started).toBeTruthy();
  return started?.eagerExecutionAccepted === true;
}

test('baton run with its own worker starts the run eagerly, and closes cleanly', async () => {
  h.fake.on('eager first x', { text: 'ONE' });
  h.fake.on('eager second ONE', { text: 'TWO' });
  const r = await baton([
    'run',
    'eager.yaml',
    'x',
    '--local-worker',
    '--task-queue',
    `eager-cli-${Date.now()}`,
    '-o',
    'json',
  ]);
  // Nothing on stderr: no warning from closing the client, the worker or their shared connection.
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout) as { runId: string; output: string };
  expect(result.output).toBe('TWO');
  expect(await startedEagerly(result.runId)).toBe(true);
});

test('baton run with the worker elsewhere starts the run the usual way', async () => {
  h.fake.on('eager first y', { text: 'ONE' });
  h.fake.on('eager second ONE', { text: 'TWO' });
  const r = await baton(['run', 'eager.yaml', 'y', '--task-queue', h.taskQueue, '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout) as { runId: string; output: string };
  expect(result.output).toBe('TWO');
  expect(await startedEagerly(result.runId)).toBe(false);
});

test('baton run refuses bad input before anything starts, with its own worker too', async () => {
  const runId = `eager-cli-refused-${Date.now()}`;
  const r = await baton(['run', 'eager.yaml', 'x', '--local-worker', '--run-id', runId], {
    OPENAI_API_KEY: '',
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/OPENAI_API_KEY/);
  await expect(h.baton.handle(runId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect(h.fake.count()).toBe(0);
});

test('baton demo starts its run eagerly on its own worker', async () => {
  const r = await baton(['demo'], { OPENAI_API_KEY: '', BATON_OFFLINE_WORD_DELAY_MS: '1' });
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const runId = /^run (\S+) started: outline -> draft -> polish$/m.exec(r.stdout)?.[1];
  expect(runId).toBeDefined();
  expect(await startedEagerly(runId!)).toBe(true);
});

test('baton eval with its own worker starts each case eagerly', async () => {
  h.fake.on('eager first e1', { text: 'ONE' });
  h.fake.on('eager first e2', { text: 'ONE' });
  h.fake.on('eager second ONE', { text: 'TWO' });
  writeFileSync(
    join(dir, 'cases.jsonl'),
    [
      '{"id":"e1","input":"e1","assert":[{"type":"exact","value":"TWO"}]}',
      '{"id":"e2","input":"e2","assert":[{"type":"exact","value":"TWO"}]}',
    ].join('\n') + '\n',
  );
  const r = await baton(['eval', 'eager.yaml', '--dataset', 'cases.jsonl', '--local-worker', '--json'], {
    BATON_TASK_QUEUE: `eager-eval-${Date.now()}`,
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout) as { cases: { id: string; runId: string; status: string }[] };
  expect(report.cases.map((c) => c.status)).toEqual(['passed', 'passed']);
  for (const c of report.cases) expect(await startedEagerly(c.runId)).toBe(true);
});
