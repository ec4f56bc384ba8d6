/**
 * What a decision on a parked run that is out of the worker's cache costs the worker: a replay of
 * the run's history. Records one approved run per side (Baton's approval step as bench/approvals.ts
 * runs it, and the bare SDK workflow), then replays each history many times in one replay worker
 * and reports the time per replay: bare SDK code, Baton's bundle with its workflow modules
 * preloaded (what `baton worker` ships), and the same bundle without preloading.
 *
 *   flock /tmp/bench.lock npx tsx bench/approval-replay.ts [replays per bundle, default 300]
 *
 * Starts its own dev server (acquireTemporal; TEMPORAL_ADDRESS uses that cluster instead).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundle,
} from '@temporalio/worker';
import { BatonClient } from '../src/client';
import { acquireTemporal } from '../src/server';
import { batonBundlerOptions, batonWorkflowsModule, createWorker } from '../src/worker';
import { approveUpdate } from './bare/approval-workflow';
import { approvalDefinition } from './approval-definition';

const log = (s: string) => void process.stderr.write(`${s}\n`);
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 300);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const temporal = await acquireTemporal({ log });
  const connection = await Connection.connect(temporal.connectionOptions);
  const native = await NativeConnection.connect(temporal.connectionOptions);
  const logger = new DefaultLogger('WARN');
  try {
    const bundle = async (workflowsPath: string, preload: boolean): Promise<WorkflowBundle> => ({
      code: (await bundleWorkflowCode({ workflowsPath, logger, ...(preload && batonBundlerOptions()) })).code,
    });
    const bundles: Record<string, WorkflowBundle> = {
      bare: await bundle(require.resolve('./bare/approval-workflow'), false),
      'baton, preloaded (shipped)': await bundle(batonWorkflowsModule(), true),
      'baton, not preloaded': await bundle(batonWorkflowsModule(), false),
    };
    const client = new Client({ connection, namespace: temporal.namespace });

    // One approved run per side, recorded.
    const taskQueue = `approval-replay-${process.pid}`;
    const batonWorker = await createWorker({
      connection: native,
      namespace: temporal.namespace,
      taskQueue,
      workflowBundle: bundles['baton, preloaded (shipped)']!,
      tracing: false,
    });
    const bareWorker = await Worker.create({
      connection: native,
      namespace: temporal.namespace,
      taskQueue: `${taskQueue}-bare`,
      workflowBundle: bundles.bare!,
    });
    const baton = await BatonClient.connect({ connection, namespace: temporal.namespace, taskQueue });
    const definition = approvalDefinition;
    const draft = "Draft 1: a short text waiting for a person's approval.";
    const histories: Record<'baton' | 'bare', temporal.api.history.v1.IHistory> = {} as never;
    await Promise.all(
      [batonWorker.run(), bareWorker.run()]
        .map((p) => p.catch(() => undefined))
        .concat(
          (async () => {
            try {
              const { runId } = await baton.start(definition, draft, {
                runId: `replay-baton-${process.pid}`,
              });
              for (let i = 0; i < 100 && !(await baton.pendingApprovals(runId)).length; i++)
                await new Promise((r) => setTimeout(r, 100));
              await baton.approve(runId, { gate: 'approve', by: 'bench' });
              await baton.result(runId);
              histories.baton = await client.workflow.getHandle(runId).fetchHistory();
              const bare = await client.workflow.start('bareApproval', {
                workflowId: `replay-bare-${process.pid}`,
                taskQueue: `${taskQueue}-bare`,
                args: [draft],
              });
              await new Promise((r) => setTimeout(r, 500));
              await bare.executeUpdate(approveUpdate, { args: ['bench'] });
              await bare.result();
              histories.bare = await bare.fetchHistory();
            } finally {
              batonWorker.shutdown();
              bareWorker.shutdown();
            }
          })(),
        ),
    );
    log(
      `history events: baton ${histories.baton.events?.length}, bare ${histories.bare.events?.length}; replaying each ${n} times`,
    );

    const loadBefore = os.loadavg()[0]!;
    // The client's extra round trip on Baton's approve path: reading the gate's digest from the memo.
    const described: number[] = [];
    const handle = client.workflow.getHandle(`replay-baton-${process.pid}`);
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await handle.describe();
      described.push(performance.now() - t);
    }
    described.sort((a, b) => a - b);
    const rows: string[] = [];
    // Twice over, interleaved, so that a burst of load elsewhere does not land on one side only.
    const times: Record<string, number[]> = {};
    for (let pass = 0; pass < 2; pass++) {
      for (const [name, workflowBundle] of Object.entries(bundles)) {
        const history = name === 'bare' ? histories.bare : histories.baton;
        const many = Array.from({ length: n }, (_, i) => ({ workflowId: `w-${pass}-${i}`, history }));
        const t0 = performance.now();
        let failed = 0;
        for await (const r of Worker.runReplayHistories({ workflowBundle }, many)) if (r.error) failed++;
        const ms = (performance.now() - t0) / n;
        if (failed) throw new Error(`${name}: ${failed} replays failed`);
        (times[name] ??= []).push(ms);
      }
    }
    for (const [name, ms] of Object.entries(times))
      rows.push(`| ${name} | ${ms.map((m) => round(m)).join(' / ')} ms |`);
    const md = [
      `Replay of one approved run's history (Baton ${histories.baton.events?.length} events, bare ${histories.bare.events?.length}), ${n} times per bundle in one replay worker, two passes:`,
      '',
      '| bundle | time per replay (pass 1 / pass 2) |',
      '|---|---|',
      ...rows,
      '',
      `describe() of a run (the memo read on Baton's approve path), 50 calls: p50 ${round(described[24]!)} ms, p95 ${round(described[47]!)} ms.`,
      `Load average (1 min): ${round(loadBefore)} before, ${round(os.loadavg()[0]!)} after; ${os.cpus().length} cores, Node ${process.version}.`,
    ].join('\n');
    process.stdout.write(`${md}\n`);
  } finally {
    await native.close();
    await connection.close();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
