import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { ModelProfile } from '../../src/types';
import type { PatternRunResult, ReactResult } from '../../src/workflows/patterns';
import { killHard, startChildWorker } from '../support/child-worker';
import { FakeModelServer } from '../support/fake-model-server';
import { fakeEnv } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };

let fake: FakeModelServer;
let connection: Connection;
let client: Client;
const children: ChildProcess[] = [];

/** A pattern worker (examples/workflows.ts and a `record` tool) in its own process. */
async function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = await startChildWorker(env, 'patterns-worker-process.ts');
  children.push(child);
  return child;
}

beforeAll(async () => {
  fake = await FakeModelServer.start();
  const t = testTemporal();
  connection = await Connection.connect(t.connectionOptions);
  client = new Client({ connection, namespace: t.namespace });
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await connection?.close();
  await fake?.close();
});

test('a ReAct agent survives its worker being SIGKILLed after a tool call: the tool is not run again', async () => {
  const recordFile = join(mkdtempSync(join(tmpdir(), 'baton-crash-')), 'record.log');
  const taskQueue = `patterns-crash-${process.pid}-${Date.now()}`;
  const env = { ...fakeEnv(fake), BATON_TASK_QUEUE: taskQueue, BATON_TEST_RECORD_FILE: recordFile };
  const m = `crash-${Date.now()}`;
  // Call 1 asks for the tool. Call 2 (after the tool result) hangs on its first attempt, while the
  // worker is killed; its retry on the new worker answers.
  let answered = 0;
  fake.on(m, (req) => {
    if (!req.messages.some((x) => x.role === 'tool'))
      return { toolCalls: [{ name: 'record', arguments: { note: 'paid invoice 42' } }] };
    return answered++ === 0 ? { text: 'too late', delayMs: 60_000 } : { text: 'Recorded it.' };
  });

  const first = await startWorker(env);
  const handle = await client.workflow.start('reactWorkflow', {
    taskQueue,
    workflowId: `patterns-crash-${Date.now()}`,
    args: [
      {
        input: `${m}: record the payment`,
        options: { heartbeatTimeout: '2s' },
        agent: { name: 'clerk', profile, tools: ['record'], maxIterations: 4 },
      },
    ],
  });
  await fake.waitFor((r) => r.allText.includes(m) && r.messages.some((x) => x.role === 'tool'), 1, 60_000);
  await killHard(first);
  expect((await handle.describe()).status.name).toBe('RUNNING');

  await startWorker(env);
  const res = (await handle.result()) as PatternRunResult<ReactResult>;

  expect(res.output).toBe('Recorded it.');
  expect(res.result.toolCalls).toEqual([
    { name: 'record', arguments: { note: 'paid invoice 42' }, ok: true, content: 'recorded paid invoice 42' },
  ]);
  // The side effect happened exactly once, across two worker processes.
  expect(existsSync(recordFile)).toBe(true);
  expect(readFileSync(recordFile, 'utf8').trim().split('\n')).toHaveLength(1);
  // The first model call was not repeated; the one cut by the crash was retried once.
  expect(fake.count((r) => r.allText.includes(m) && !r.messages.some((x) => x.role === 'tool'))).toBe(1);
  expect(fake.count((r) => r.allText.includes(m) && r.messages.some((x) => x.role === 'tool'))).toBe(2);
  expect(res.steps[0]).toMatchObject({ name: 'clerk', calls: 2, toolCalls: 1, attempts: 2 });
});
