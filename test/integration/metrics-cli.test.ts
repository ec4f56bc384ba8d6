/**
 * Metrics through the real `baton worker` (docs/observability.md): with BATON_METRICS_PORT set, the
 * worker serves the Temporal SDK's metrics and Baton's counters at /metrics for Prometheus.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import type { AgentStep, ApprovalStep, EnsembleDefinition } from '../../src/types';
import { MetricsSettingsError, prometheusBindAddress } from '../../src/telemetry/metrics';
import { GatesGaugeSettingsError, gatesGaugeIntervalMs } from '../../src/telemetry/gates-gauge';
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

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The value of the Prometheus sample `name` whose labels include every one of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test('baton worker with BATON_METRICS_PORT serves the SDK’s metrics and Baton’s counters', async () => {
  fake.on('Metered', { text: 'M1', usage: { input: 17, output: 5 } });
  // Newest rule first: one reply asking for two tool calls (one with bad arguments), then text.
  fake.on('Tooled', { text: 'T-done' });
  fake.on(
    'Tooled',
    {
      toolCalls: [
        { name: 'search', arguments: { query: 'temporal' } },
        { name: 'search', arguments: {} },
      ],
    },
    { times: 1 },
  );
  const { namespace, connectionOptions } = testTemporal();
  const metricsPort = await freePort();
  const taskQueue = `metrics-worker-${Date.now()}`;
  const tools = join(__dirname, '..', '..', 'examples', 'tools.ts');
  const worker = await startCliWorker({
    taskQueue,
    openaiBaseURL: fake.openaiBaseURL,
    args: ['--tools', tools],
    env: { BATON_METRICS_PORT: `127.0.0.1:${metricsPort}` },
  });
  const connection = await Connection.connect(connectionOptions);
  let text = '';
  let costUsd = NaN;
  try {
    const baton = await BatonClient.connect({ connection, namespace, taskQueue, tracing: false });
    const def = chain('metered', [
      {
        name: 'only',
        profile: {
          name: 'oa',
          provider: 'openai',
          model: 'gpt-metrics',
          pricing: { inputPerMTok: 3, outputPerMTok: 15 },
        },
        prompt: 'Metered {{input}}',
      },
    ]);
    const result = await baton.run(def, 'x');
    expect(result.status).toBe('completed');
    costUsd = result.costUsd;
    const tooled = chain('metered-tools', [
      {
        name: 'agent',
        profile: { name: 'oa', provider: 'openai', model: 'gpt-tools' },
        prompt: 'Tooled {{input}}',
      },
    ]);
    (tooled.steps[0] as AgentStep).tools = [{ name: 'search' }];
    const withTools = await baton.run(tooled, 'x');
    expect(withTools.status).toBe('completed');
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    text = await res.text();
  } finally {
    await connection.close();
    worker.child.kill('SIGTERM');
  }
  expect(await worker.exited).toBe(0);
  // Text logs (the default) at INFO: one line per completed tool call.
  expect(worker.stderr()).toMatch(/tool call completed \{[^}]*outcome: 'InvalidArguments'/);
  // The SDK’s own metrics.
  expect(text).toMatch(/^temporal_activity_execution_latency\w*\{/m);
  expect(text).toMatch(/^temporal_workflow_completed\w*\{/m);
  // Baton's counters, with the fake model's usage.
  const tags = { provider: 'openai', model: 'gpt-metrics' };
  expect(sample(text, 'baton_model_tokens', { ...tags, direction: 'input' })).toBe(17);
  expect(sample(text, 'baton_model_tokens', { ...tags, direction: 'output' })).toBe(5);
  expect(sample(text, 'baton_model_calls', { ...tags, outcome: 'ok' })).toBe(1);
  // 17 input tokens at $3/M and 5 output at $15/M, in millionths of a dollar; the run's own cost agrees.
  expect(sample(text, 'baton_model_cost_microusd', tags)).toBe(17 * 3 + 5 * 15);
  expect(Math.round(costUsd * 1e6)).toBe(17 * 3 + 5 * 15);
  expect(sample(text, 'baton_model_calls', { model: 'gpt-tools', outcome: 'ok' })).toBe(2);
  expect(sample(text, 'baton_tool_calls', { tool: 'search', outcome: 'ok' })).toBe(1);
  expect(sample(text, 'baton_tool_calls', { tool: 'search', outcome: 'InvalidArguments' })).toBe(1);
});

test('baton worker’s gauges count the gates waiting on its task queue, and fall when they are decided', async () => {
  const { namespace, connectionOptions } = testTemporal();
  const metricsPort = await freePort();
  const taskQueue = `gauge-worker-${Date.now()}`;
  const worker = await startCliWorker({
    taskQueue,
    openaiBaseURL: fake.openaiBaseURL,
    env: { BATON_METRICS_PORT: `127.0.0.1:${metricsPort}`, BATON_GATES_GAUGE_INTERVAL: '200ms' },
  });
  const gate = (name: string): ApprovalStep => ({
    kind: 'approval',
    name,
    dependsOn: [],
    present: `${name}?`,
    deadline: '1h',
    onTimeout: 'reject',
  });
  const twoGates: EnsembleDefinition = { name: 'gauged-two', steps: [gate('a'), gate('b')] };
  const oneGate: EnsembleDefinition = { name: 'gauged-one', steps: [gate('c')] };
  const gauges = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return {
      gates: sample(text, 'baton_gates_waiting', { taskQueue }),
      runs: sample(text, 'baton_runs_waiting', { taskQueue }),
    };
  };
  const until = async (want: { gates: number; runs: number }) => {
    let last: unknown;
    for (let i = 0; i < 300; i++) {
      last = await gauges();
      if (JSON.stringify(last) === JSON.stringify(want)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gauges never read ${JSON.stringify(want)}; last ${JSON.stringify(last)}`);
  };
  const connection = await Connection.connect(connectionOptions);
  try {
    const baton = await BatonClient.connect({ connection, namespace, taskQueue, tracing: false });
    const two = await baton.start(twoGates, 'x');
    const one = await baton.start(oneGate, 'x');
    await until({ gates: 3, runs: 2 });
    for (const p of await baton.pendingApprovals(two.runId))
      await baton.approve(two.runId, { gate: p.gate, digest: p.digest, by: 'gauge-test' });
    expect((await baton.result(two.runId)).status).toBe('completed');
    await until({ gates: 1, runs: 1 });
    await baton.reject(one.runId, { by: 'gauge-test' });
    await until({ gates: 0, runs: 0 });
  } finally {
    await connection.close();
    worker.child.kill('SIGTERM');
  }
  expect(await worker.exited).toBe(0);
});

test('baton worker --help tells how to turn metrics on', async () => {
  const help = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'worker', '--help'], {
      env: { PATH: process.env.PATH, BATON_FROM_SOURCE: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out));
  });
  expect(help).toContain('BATON_METRICS_PORT=9464');
  expect(help).toContain('baton_model_tokens');
  expect(help).toContain('baton_gates_waiting');
});

test('BATON_GATES_GAUGE_INTERVAL takes a duration of at least 100ms, default 15s', () => {
  expect(gatesGaugeIntervalMs({})).toBe(15_000);
  expect(gatesGaugeIntervalMs({ BATON_GATES_GAUGE_INTERVAL: '1m' })).toBe(60_000);
  expect(() => gatesGaugeIntervalMs({ BATON_GATES_GAUGE_INTERVAL: 'often' })).toThrow(
    GatesGaugeSettingsError,
  );
  expect(() => gatesGaugeIntervalMs({ BATON_GATES_GAUGE_INTERVAL: '10ms' })).toThrow(
    'BATON_GATES_GAUGE_INTERVAL=10ms is not a duration of at least 100ms',
  );
});

test('BATON_METRICS_PORT: a bare port listens on every interface, host:port only there', () => {
  expect(prometheusBindAddress({ BATON_METRICS_PORT: '9464' })).toBe('0.0.0.0:9464');
  expect(prometheusBindAddress({ BATON_METRICS_PORT: '127.0.0.1:9464' })).toBe('127.0.0.1:9464');
  expect(prometheusBindAddress({})).toBeUndefined();
  expect(() => prometheusBindAddress({ BATON_METRICS_PORT: '70000' })).toThrow(MetricsSettingsError);
});

test('baton worker refuses a BATON_METRICS_PORT that is not a port, naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-metrics-bad-'));
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'worker'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, BATON_FROM_SOURCE: '1', BATON_METRICS_PORT: 'ninety' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  expect(r.stderr).toContain('BATON_METRICS_PORT=ninety is not a port');
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBe(1);
});
