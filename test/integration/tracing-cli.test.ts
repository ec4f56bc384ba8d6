/**
 * Tracing through the real `baton` command (docs/observability.md): with OTEL_EXPORTER_OTLP_ENDPOINT
 * set, `baton run` with its local worker sends the run's whole trace to an OTLP/HTTP receiver before
 * it exits.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { BatonClient } from '../../src/client';
import { chain } from '../../src/define';
import { FakeModelServer } from '../support/fake-model-server';
import { installQuietRuntime } from '../support/harness';
import { startCliWorker } from '../support/cli-worker';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
let fake: FakeModelServer;
let receiver: Server;
const bodies: string[] = [];

beforeAll(async () => {
  fake = await FakeModelServer.start();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  await fake?.close();
  await new Promise((r) => receiver?.close(r));
});

type OtlpSpan = {
  name: string;
  traceId: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
};

test('baton run exports the run’s trace (start, run, steps, model calls) before it exits', async () => {
  fake.on('Outline:', { text: 'OUTLINE-1', usage: { input: 12, output: 4 } });
  fake.on('Draft from', { text: 'DRAFT-2', usage: { input: 20, output: 6 } });
  const dir = mkdtempSync(join(tmpdir(), 'baton-trace-cli-'));
  const file = join(dir, 'traced.yaml');
  writeFileSync(
    file,
    `name: traced-cli
profiles:
  fake: { provider: openai, model: gpt-test }
default_profile: fake
agents:
  - name: outline
    prompt: "Outline: {{input}}"
  - name: draft
    depends_on: [outline]
    prompt: "Draft from {{outline}}"
`,
  );
  const { address, namespace } = testTemporal();
  const { port } = receiver.address() as AddressInfo;
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'run',
        file,
        'durable agents',
        '--local-worker',
        '--task-queue',
        `trace-cli-${Date.now()}`,
        '-o',
        'json',
      ],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          BATON_FROM_SOURCE: '1',
          TEMPORAL_ADDRESS: address,
          TEMPORAL_NAMESPACE: namespace,
          OPENAI_API_KEY: 'sk-test',
          OPENAI_BASE_URL: fake.openaiBaseURL,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end();
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const { runId } = JSON.parse(r.stdout) as { runId: string };

  // Everything arrived before the command exited: no waiting here.
  const spans = bodies.flatMap((b) =>
    (JSON.parse(b) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans.flatMap(
      (rs) => rs.scopeSpans.flatMap((s) => s.spans),
    ),
  );
  const attr = (s: OtlpSpan, k: string) => s.attributes.find((a) => a.key === k)?.value;
  const ofRun = spans.filter((s) =>
    ['workflowId', 'temporalWorkflowId', 'baton.run_id'].some((k) => attr(s, k)?.stringValue === runId),
  );
  const names = ofRun.map((s) => s.name);
  expect(names).toEqual(
    expect.arrayContaining([
      'StartWorkflow:batonRun',
      'RunWorkflow:batonRun',
      'baton.step outline',
      'baton.step draft',
      'RunActivity:callModel',
    ]),
  );
  // The run's trace is the start's; the command's progress queries are short traces of their own.
  const start = ofRun.find((s) => s.name === 'StartWorkflow:batonRun')!;
  const trace = ofRun.filter((s) => s.traceId === start.traceId);
  expect(trace.map((s) => s.name)).toEqual(
    expect.arrayContaining(['RunWorkflow:batonRun', 'baton.step outline', 'baton.step draft']),
  );
  expect(trace.filter((s) => s.name === 'RunActivity:callModel')).toHaveLength(2);
  expect(
    ofRun.filter((s) => s.traceId !== start.traceId).every((s) => /^(Query|Describe)Workflow/.test(s.name)),
  ).toBe(true);
  const draft = trace.find(
    (s) => s.name === 'RunActivity:callModel' && attr(s, 'baton.step')?.stringValue === 'draft',
  )!;
  expect(attr(draft, 'gen_ai.request.model')?.stringValue).toBe('gpt-test');
  expect(Number(attr(draft, 'gen_ai.usage.output_tokens')?.intValue)).toBe(6);
});

test('baton worker exports the spans of the runs it serves, at the latest when it stops', async () => {
  installQuietRuntime();
  fake.on('Worker-side', { text: 'W1', usage: { input: 9, output: 2 } });
  const { namespace, connectionOptions } = testTemporal();
  const { port } = receiver.address() as AddressInfo;
  const taskQueue = `trace-worker-${Date.now()}`;
  const worker = await startCliWorker({
    taskQueue,
    openaiBaseURL: fake.openaiBaseURL,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
  });
  const connection = await Connection.connect(connectionOptions);
  const runId = `trace-worker-${Date.now()}`;
  try {
    // A client without tracing: the worker's spans make their own trace.
    const baton = await BatonClient.connect({ connection, namespace, taskQueue, tracing: false });
    const def = chain('traced-worker', [
      {
        name: 'only',
        profile: { name: 'oa', provider: 'openai', model: 'gpt-test' },
        prompt: 'Worker-side {{input}}',
      },
    ]);
    expect((await baton.run(def, 'x', { runId })).status).toBe('completed');
  } finally {
    await connection.close();
    worker.child.kill('SIGTERM');
  }
  expect(await worker.exited).toBe(0);
  const spans = bodies.flatMap((b) =>
    (JSON.parse(b) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans.flatMap(
      (rs) => rs.scopeSpans.flatMap((s) => s.spans),
    ),
  );
  const attr = (s: OtlpSpan, k: string) => s.attributes.find((a) => a.key === k)?.value;
  const call = spans.find(
    (s) => s.name === 'RunActivity:callModel' && attr(s, 'baton.run_id')?.stringValue === runId,
  );
  expect(call && attr(call, 'gen_ai.usage.input_tokens')?.intValue).toBeDefined();
  expect(Number(attr(call!, 'gen_ai.usage.input_tokens')?.intValue)).toBe(9);
  const run = spans.find(
    (s) => s.name === 'RunWorkflow:batonRun' && attr(s, 'workflowId')?.stringValue === runId,
  );
  expect(run?.traceId).toBe(call!.traceId);
});
