/** Shared plumbing for benchmarks: a tuned server, a fake model, workers for Baton and bare SDK code. */
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { BatonClient } from '../src/client';
import { acquireTemporal, DEV_SERVER_DYNAMIC_CONFIG, type TemporalHandle } from '../src/server';
import { createWorker } from '../src/worker';
import { FakeModelServer } from '../test/support/fake-model-server';
import * as bareActivities from './bare/activities';

export interface BenchEnv {
  temporal: TemporalHandle;
  fake: FakeModelServer;
  baton: BatonClient;
  client: Connection;
  /** The workers' connection: a client on it can start runs eagerly (worker and client in one process). */
  native: NativeConnection;
  bareQueue: string;
  close(): Promise<void>;
}

/** Median, and the p-th percentile (nearest rank). */
export const median = (xs: number[]) => percentile(xs, 50);
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** What the machine and server were, for the report. */
export function machineLine(temporal: TemporalHandle): string {
  const cpu = os.cpus()[0]?.model ?? 'cpu';
  return `${os.cpus().length} cores (${cpu}), Node ${process.version}, Temporal ${temporal.source === 'env' ? `cluster at ${temporal.address}` : `dev server (CLI v1.5.1, binary from ${temporal.source})`}`;
}

export function serverSettingsLine(temporal: TemporalHandle): string {
  if (temporal.source === 'env') return 'existing cluster (TEMPORAL_ADDRESS); its own settings';
  return Object.entries(DEV_SERVER_DYNAMIC_CONFIG)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
}

/** Start everything a benchmark needs; workers get `slots` activity slots each. */
export async function startBench(opts: { slots: number; env?: NodeJS.ProcessEnv }): Promise<BenchEnv> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const temporal = await acquireTemporal();
  const fake = await FakeModelServer.start();
  const env = { OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: fake.openaiBaseURL, ...opts.env };
  Object.assign(process.env, env); // the bare activities read them, as hand-written ones do
  const native = await NativeConnection.connect(temporal.connectionOptions);
  const batonQueue = `bench-baton-${process.pid}`;
  const bareQueue = `bench-bare-${process.pid}`;
  const logger = new DefaultLogger('WARN');
  const batonWorker = await createWorker({
    connection: native,
    namespace: temporal.namespace,
    taskQueue: batonQueue,
    env,
    maxConcurrentActivities: opts.slots,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../src/workflows'), logger }),
  });
  const bareWorker = await Worker.create({
    connection: native,
    namespace: temporal.namespace,
    taskQueue: bareQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./bare/workflows'), logger }),
    activities: bareActivities,
    maxConcurrentActivityTaskExecutions: opts.slots,
    maxConcurrentLocalActivityExecutions: opts.slots,
    maxConcurrentWorkflowTaskExecutions: 100,
  });
  const runs = [batonWorker.run(), bareWorker.run()];
  // A 10,000-item run's result is larger than gRPC's default 4 MB message.
  const client = await Connection.connect({
    ...temporal.connectionOptions,
    channelArgs: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  });
  const baton = await BatonClient.connect({
    connection: client,
    namespace: temporal.namespace,
    taskQueue: batonQueue,
  });
  return {
    temporal,
    fake,
    baton,
    client,
    native,
    bareQueue,
    async close() {
      batonWorker.shutdown();
      bareWorker.shutdown();
      await Promise.all(runs);
      await client.close();
      await native.close();
      await fake.close();
      await temporal.stop();
    },
  };
}

/** Resident memory of a process, in MB (Linux). */
export function rssMb(pid: number = process.pid): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
