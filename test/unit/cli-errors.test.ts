import { unreachableError, TemporalUnreachableError } from '../../src/cli/connect';
import { BadInputError, EXIT, exitCodeFor } from '../../src/cli/exit-codes';
import { InterruptedError } from '../../src/cli/lifecycle';
import { followRun } from '../../src/cli/watch';
import type { BatonClient } from '../../src/client';
import { WorkerSettingsError, workerSettingsFromEnv } from '../../src/worker';

test('each kind of error maps to its documented exit code', () => {
  expect(exitCodeFor(new BadInputError('x'))).toBe(EXIT.badInput);
  expect(exitCodeFor(new WorkerSettingsError('x'))).toBe(EXIT.badInput);
  expect(exitCodeFor(new TemporalUnreachableError('x'))).toBe(EXIT.temporalUnavailable);
  expect(exitCodeFor(new InterruptedError('SIGINT'))).toBe(130);
  // The worker's native connection fails with the Rust transport's own words.
  const tonic =
    'tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", Os { code: 111, kind: ConnectionRefused }))';
  expect(exitCodeFor(new Error(tonic))).toBe(EXIT.temporalUnavailable);
  expect(exitCodeFor(new Error('something else'))).toBe(EXIT.internal);
});

test('BATON_MAX_* values that are not positive whole numbers are refused with a named error', () => {
  expect(() => workerSettingsFromEnv({ BATON_MAX_CONCURRENT_ACTIVITIES: 'abc' })).toThrow(
    WorkerSettingsError,
  );
  expect(() => workerSettingsFromEnv({ BATON_MAX_CACHED_WORKFLOWS: '0' })).toThrow(
    /BATON_MAX_CACHED_WORKFLOWS=0 is not a positive whole number/,
  );
  expect(workerSettingsFromEnv({ BATON_MAX_CONCURRENT_WORKFLOW_TASKS: '8' }).maxConcurrentWorkflowTasks).toBe(
    8,
  );
});

test('an unreachable server is one plain line: what answered nothing, and what to do', () => {
  const refused = new Error(
    'tonic::transport::Error(Transport, ConnectError(... kind: ConnectionRefused ...))',
  );
  const set = unreachableError('10.0.0.1:7233', refused, { TEMPORAL_ADDRESS: '10.0.0.1:7233' });
  expect(set.message).toBe(
    'no Temporal server answered at 10.0.0.1:7233 (TEMPORAL_ADDRESS): connection refused. Check that it runs, or unset TEMPORAL_ADDRESS to let `baton run` start a local dev server',
  );
  const unset = unreachableError('127.0.0.1:7233', new Error('Failed to connect before the deadline'), {});
  expect(unset.message).toBe(
    'no Temporal server answered at 127.0.0.1:7233: no answer in time. Start one with `baton server` and export TEMPORAL_ADDRESS=127.0.0.1:7233',
  );
  // Nothing about PATH binaries or Go builds: nothing was to be started here.
  expect(`${set.message} ${unset.message}`).not.toMatch(/PATH|Go|tonic/);
});

test('following a run stops when the signal aborts, with the signal reason (the run goes on)', async () => {
  const never = new Promise<never>(() => {});
  const baton = { result: () => never, progress: async () => ({ steps: [] }) } as unknown as BatonClient;
  const controller = new AbortController();
  const following = followRun(baton, 'r-1', () => {}, { pollMs: 5, signal: controller.signal });
  setTimeout(() => controller.abort(new InterruptedError('SIGINT')), 20);
  await expect(following).rejects.toThrow(InterruptedError);
});
