/**
 * A BatonClient made on a worker's NativeConnection (client and worker in one process) starts its
 * runs eagerly: the first workflow task comes back with the start instead of through the task
 * queue. The run is the same run, and input is still checked before anything starts.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { BatonClient, InvalidRequestError } from '../../src/client';
import { createWorker } from '../../src/worker';
import type { EnsembleDefinition } from '../../src/types';
import { bundleFor, fakeEnv, startHarness, type Harness } from '../support/harness';
import { testTemporal } from '../support/temporal-env';

let h: Harness;
let native: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let local: BatonClient;
const taskQueue = `eager-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  h = await startHarness();
  const { namespace, connectionOptions } = testTemporal();
  native = await NativeConnection.connect(connectionOptions);
  worker = await createWorker({
    connection: native,
    namespace,
    taskQueue,
    env: fakeEnv(h.fake),
    workflowBundle: await bundleFor(require.resolve('../../src/workflows'), []),
    tracing: false,
    shutdownGraceTime: '2s',
  });
  running = worker.run();
  local = await BatonClient.connect({ connection: native, namespace, taskQueue, tracing: false });
});

afterAll(async () => {
  await local?.close();
  worker?.shutdown();
  await running;
  await native?.close();
  await h?.close();
});

const profile = { name: 'fake', provider: 'openai' as const, model: 'fake-model' };
const def = (name: string): EnsembleDefinition => ({
  name,
  steps: [
    { kind: 'agent', name: 'a', dependsOn: [], profile, prompt: 'Eager first {{input}}' },
    { kind: 'agent', name: 'b', dependsOn: ['a'], profile, prompt: 'Eager second {{steps.a}}' },
  ],
});

test('a client on the worker connection starts runs eagerly, and they run as any run does', async () => {
  h.fake.on('Eager first', { text: 'one' });
  h.fake.on('Eager second one', { text: 'two' });
  const runId = `eager-${Date.now()}`;
  const handle = await local.start(def('eager'), 'x', { runId });
  expect(handle).toEqual({ runId, started: true, eager: true });
  const result = await local.result(runId);
  expect(result.output).toBe('two');
  expect(result.steps.map((s) => [s.name, s.status, s.output])).toEqual([
    ['a', 'completed', 'one'],
    ['b', 'completed', 'two'],
  ]);
  // The same id again returns the existing run, eager or not.
  expect(await local.start(def('eager'), 'x', { runId })).toEqual({ runId, started: false });
});

test('a client on its own connection starts runs the usual way', async () => {
  h.fake.on('Eager first', { text: 'one' });
  h.fake.on('Eager second one', { text: 'two' });
  const runId = `not-eager-${Date.now()}`;
  const handle = await h.baton.start(def('usual'), 'x', { runId });
  expect(handle).toEqual({ runId, started: true });
  expect((await h.baton.result(runId)).output).toBe('two');
});

test('bad input is refused before anything starts, on the eager path too', async () => {
  const runId = `eager-bad-${Date.now()}`;
  const bad = { ...def('bad'), steps: [{ ...def('bad').steps[1]!, dependsOn: ['missing'] }] };
  await expect(local.start(bad as EnsembleDefinition, 'x', { runId })).rejects.toBeInstanceOf(
    InvalidRequestError,
  );
  await expect(h.baton.handle(runId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
});
