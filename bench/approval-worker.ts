/**
 * One worker process for bench/approvals.ts: Baton's worker (`createWorker`) or a bare SDK worker,
 * with the settings the parent passes, and a Prometheus endpoint the parent reads to know how
 * many workflow tasks it has completed. The parent measures this process's RSS.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

/** What the parent passes in BENCH_WORKER (JSON). */
export interface BenchWorkerConfig {
  mode: 'baton' | 'bare';
  address: string;
  namespace: string;
  taskQueue: string;
  /** A prebuilt workflow bundle (built by the parent, so webpack never runs in this process). */
  bundlePath: string;
  metricsAddress: string;
  maxCachedWorkflows: number;
  maxConcurrentWorkflowTaskExecutions: number;
  workflowThreadPoolSize: number;
  maxConcurrentWorkflowTaskPolls: number;
  nonStickyToStickyPollRatio: number;
}

async function main(): Promise<void> {
  const c = JSON.parse(process.env.BENCH_WORKER!) as BenchWorkerConfig;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: c.metricsAddress } } },
  });
  const connection = await NativeConnection.connect({ address: c.address });
  const common = {
    workflowBundle: { codePath: c.bundlePath },
    maxCachedWorkflows: c.maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: c.maxConcurrentWorkflowTaskExecutions,
    workflowThreadPoolSize: c.workflowThreadPoolSize,
    maxConcurrentWorkflowTaskPolls: c.maxConcurrentWorkflowTaskPolls,
    nonStickyToStickyPollRatio: c.nonStickyToStickyPollRatio,
  };
  // Loaded only for Baton's side: the bare side runs no Baton code at all.
  const createWorker = c.mode === 'baton' ? (await import('../src/worker')).createWorker : undefined;
  const worker = createWorker
    ? await createWorker({
        connection,
        namespace: c.namespace,
        taskQueue: c.taskQueue,
        workflowBundle: common.workflowBundle,
        maxCachedWorkflows: c.maxCachedWorkflows,
        maxConcurrentWorkflowTasks: c.maxConcurrentWorkflowTaskExecutions,
        overrides: {
          workflowThreadPoolSize: c.workflowThreadPoolSize,
          maxConcurrentWorkflowTaskPolls: c.maxConcurrentWorkflowTaskPolls,
          nonStickyToStickyPollRatio: c.nonStickyToStickyPollRatio,
        },
      })
    : await Worker.create({ connection, namespace: c.namespace, taskQueue: c.taskQueue, ...common });
  process.stdout.write('worker-ready\n');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`approval-worker: ${(err as Error).stack}\n`);
  process.exit(1);
});
