/**
 * OpenTelemetry traces (docs/observability.md): one trace per run, from the client's start through
 * the run and each step to each model call's attempt, with GenAI attributes; exported over OTLP/HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { chain } from '../../src/define';
import { createTracing, tracingFromEnv, type Tracing } from '../../src/telemetry';
import type { ModelProfile } from '../../src/types';
import { z } from 'zod';
import { Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { BatonClient } from '../../src/client';
import { createTool } from '../../src/activities/tools';
import type { EnsembleDefinition } from '../../src/types';
import { createWorker } from '../../src/worker';
import { otlpTracesUrl, TRACING_WORKFLOW_MODULE, TracingSettingsError } from '../../src/telemetry';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fetchRunHistory, readHistoryFile, replayHistory } from '../../src/replay';
import {
  bundleFor,
  fakeEnv,
  installQuietRuntime,
  startHarness,
  workflowBundle,
  type Harness,
} from '../support/harness';
import { testTemporal } from '../support/temporal-env';

const openai: ModelProfile = {
  name: 'oa',
  provider: 'openai',
  model: 'gpt-test',
  pricing: { inputPerMTok: 1, outputPerMTok: 2 },
};
const anthropic: ModelProfile = {
  name: 'an',
  provider: 'anthropic',
  model: 'claude-test',
  pricing: { inputPerMTok: 3, outputPerMTok: 15 },
};
const id = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

function twoSteps() {
  return chain('traced', [
    { name: 'outline', profile: openai, prompt: 'Outline: {{input}}' },
    { name: 'draft', profile: anthropic, prompt: 'Draft from {{outline}}' },
  ]);
}

/** Wait (polling, no timing asserted) until `check` passes; workflow spans leave the sandbox after its activation. */
async function eventually<T>(check: () => T | undefined): Promise<T> {
  for (let i = 0; ; i++) {
    const v = check();
    if (v !== undefined) return v;
    if (i > 200) throw new Error('condition not met after 200 polls');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const stamp = createTool({
  name: 'stamp',
  description: 'Stamp a number.',
  input: z.object({ n: z.number() }),
  run: ({ n }) => `stamped ${n}`,
});
const hasToolResult = (req: { messages: { role: string }[] }) => req.messages.some((m) => m.role === 'tool');

describe('with an in-memory exporter', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let h: Harness;
  beforeAll(async () => {
    tracing = createTracing({ spanProcessor: new SimpleSpanProcessor(exporter) });
    h = await startHarness({ tracing, tools: [stamp] });
  });
  afterAll(async () => {
    await h?.close();
    await tracing?.shutdown();
  });

  test('a two-step run is one trace: client start → run → step → model call, with GenAI attributes', async () => {
    h.fake.on('Outline:', { text: 'OUTLINE-1', usage: { input: 100, output: 10 } });
    h.fake.on('Draft from OUTLINE-1', { text: 'DRAFT-2', usage: { input: 200, output: 50 } });
    const runId = id('traced');
    const result = await h.baton.run(twoSteps(), 'durable agents', { runId });
    expect(result.status).toBe('completed');

    const ofRun = () =>
      exporter
        .getFinishedSpans()
        .filter((s) => s.attributes['baton.run_id'] === runId || s.attributes.workflowId === runId);
    // Workflow spans (the run, steps) reach the exporter through the worker's sink after the activation.
    const spans = await eventually(() => {
      const all = exporter.getFinishedSpans();
      const run = all.find((s) => s.name === 'RunWorkflow:batonRun' && s.attributes.workflowId === runId);
      const calls = ofRun().filter((s) => s.name === 'RunActivity:callModel');
      return run && calls.length === 2 ? all : undefined;
    });
    const start = spans.find(
      (s) => s.name === 'StartWorkflow:batonRun' && s.attributes.temporalWorkflowId === runId,
    );
    expect(start).toBeDefined();
    const traceId = start!.spanContext().traceId;
    const byId = new Map(
      spans.filter((s) => s.spanContext().traceId === traceId).map((s) => [s.spanContext().spanId, s]),
    );
    const pathOf = (s: ReadableSpan): string[] => {
      const names = [s.name];
      let cur: ReadableSpan | undefined = s;
      while (cur?.parentSpanId) {
        cur = byId.get(cur.parentSpanId);
        if (!cur) {
          names.push('<missing parent>');
          break;
        }
        names.push(cur.name);
      }
      return names.reverse();
    };

    const calls = ofRun().filter((s) => s.name === 'RunActivity:callModel');
    expect(calls.map((s) => s.spanContext().traceId)).toEqual([traceId, traceId]);
    const byStep = Object.fromEntries(calls.map((s) => [s.attributes['baton.step'], s]));
    for (const step of ['outline', 'draft']) {
      expect(pathOf(byStep[step]!)).toEqual([
        'StartWorkflow:batonRun',
        'RunWorkflow:batonRun',
        `baton.step ${step}`,
        'StartActivity:callModel',
        'RunActivity:callModel',
      ]);
    }
    const costOf = (step: string) => result.steps.find((s) => s.name === step)!.costUsd;
    expect(byStep.outline!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.response.model': 'gpt-test',
      'gen_ai.response.finish_reasons': ['stop'],
      'baton.attempt': 1,
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-test',
      'gen_ai.usage.input_tokens': 100,
      'gen_ai.usage.output_tokens': 10,
      'baton.cost_usd': costOf('outline'),
      'baton.run_id': runId,
      'baton.step': 'outline',
    });
    expect(byStep.draft!.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-test',
      'gen_ai.usage.input_tokens': 200,
      'gen_ai.usage.output_tokens': 50,
      'baton.cost_usd': costOf('draft'),
      'baton.run_id': runId,
      'baton.step': 'draft',
    });
    expect(costOf('draft')).toBeGreaterThan(0);
    // The step spans carry the run and step too.
    const stepSpan = [...byId.values()].find((s) => s.name === 'baton.step draft')!;
    expect(stepSpan.attributes).toMatchObject({ 'baton.run_id': runId, 'baton.step': 'draft' });

    // Prompts, replies and the run's input stay out of spans.
    const everything = JSON.stringify(spans.map((s) => [s.name, s.attributes]));
    for (const text of ['durable agents', 'OUTLINE-1', 'DRAFT-2', 'Outline:'])
      expect(everything).not.toContain(text);

    // A traced run's history replays on a worker without tracing (and so after tracing is switched off).
    const history = await fetchRunHistory(h.baton.temporal, runId);
    const untraced = await replayHistory(history, runId, { workflowBundle: await workflowBundle() });
    expect(untraced).toMatchObject({ ok: true });
  });
  test('a tool call is a span under its step, with the tool name and outcome', async () => {
    h.fake.on('Use the stamp', (req) =>
      hasToolResult(req)
        ? { text: 'Done.' }
        : { toolCalls: [{ id: 'call_1', name: 'stamp', arguments: { n: 7 } }] },
    );
    const def: EnsembleDefinition = {
      name: 'traced-tools',
      steps: [
        {
          kind: 'agent',
          name: 'act',
          dependsOn: [],
          profile: openai,
          prompt: 'Use the stamp: {{input}}',
          tools: [{ name: 'stamp' }],
          maxIterations: 3,
        },
      ],
    };
    const runId = id('traced-tools');
    const result = await h.baton.run(def, 'x', { runId });
    expect(result.status).toBe('completed');
    const spans = await eventually(() => {
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'RunWorkflow:batonRun' && s.attributes.workflowId === runId)
        ? all
        : undefined;
    });
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);
    const tool = spans.find(
      (s) => s.name === 'RunActivity:callTool' && s.attributes['baton.run_id'] === runId,
    )!;
    expect(tool.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'stamp',
      'baton.tool.ok': true,
      'baton.step': 'act',
    });
    expect(parentOf(tool)?.name).toBe('StartActivity:callTool');
    expect(parentOf(parentOf(tool)!)?.name).toBe('baton.step act');
    // Both model calls of the agent step (before and after the tool) are traced under the same step name.
    const models = spans.filter(
      (s) => s.name === 'RunActivity:callModel' && s.attributes['baton.run_id'] === runId,
    );
    expect(models.map((s) => s.attributes['baton.step'])).toEqual(['act', 'act']);
    expect(new Set([tool, ...models].map((s) => s.spanContext().traceId)).size).toBe(1);
    // One step span per call of the step: model, tool, model.
    const stepSpans = spans.filter(
      (s) => s.name === 'baton.step act' && s.attributes['baton.run_id'] === runId,
    );
    expect(stepSpans).toHaveLength(3);
  });
  test('each attempt of a retried model call is its own span under the same call', async () => {
    // Newer rules are tried first: the 503 answers once, then the reply.
    h.fake.on('Retry me', { text: 'ok', usage: { input: 5, output: 1 } });
    h.fake.on('Retry me', { status: 503, message: 'busy' }, { times: 1 });
    const def = chain('traced-retry', [
      {
        name: 'flaky',
        profile: openai,
        prompt: 'Retry me {{input}}',
        retry: { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 3 },
      },
    ]);
    const runId = id('traced-retry');
    expect((await h.baton.run(def, 'x', { runId })).status).toBe('completed');
    const spans = await eventually(() => {
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'RunWorkflow:batonRun' && s.attributes.workflowId === runId)
        ? all
        : undefined;
    });
    const attempts = spans.filter(
      (s) => s.name === 'RunActivity:callModel' && s.attributes['baton.run_id'] === runId,
    );
    expect(attempts.map((s) => s.attributes['baton.attempt']).sort()).toEqual([1, 2]);
    expect(attempts.find((s) => s.attributes['baton.attempt'] === 1)!.status.code).toBe(SpanStatusCode.ERROR);
    expect(
      attempts.find((s) => s.attributes['baton.attempt'] === 2)!.attributes['gen_ai.usage.input_tokens'],
    ).toBe(5);
    expect(new Set(attempts.map((s) => s.parentSpanId)).size).toBe(1);
    const parent = spans.find((s) => s.spanContext().spanId === attempts[0]!.parentSpanId)!;
    expect(parent.name).toBe('StartActivity:callModel');
  });

  test('with localActivities the model calls are traced too, their step span named after the step', async () => {
    h.fake.on('Local one', { text: 'L1', usage: { input: 3, output: 2 } });
    const def = chain('traced-local', [{ name: 'one', profile: openai, prompt: 'Local one {{input}}' }]);
    const runId = id('traced-local');
    const result = await h.baton.run(def, 'x', { runId, options: { localActivities: true } });
    expect(result.status).toBe('completed');
    const spans = await eventually(() => {
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'RunWorkflow:batonRun' && s.attributes.workflowId === runId)
        ? all
        : undefined;
    });
    const call = spans.find(
      (s) => s.name === 'RunActivity:callModel' && s.attributes['baton.run_id'] === runId,
    )!;
    expect(call.attributes).toMatchObject({
      'gen_ai.request.model': 'gpt-test',
      'gen_ai.usage.input_tokens': 3,
    });
    expect(call.attributes['baton.step']).toBe('one');
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const start = byId.get(call.parentSpanId!)!;
    expect(start.name).toBe('StartActivity:callModel');
    expect(byId.get(start.parentSpanId!)!.name).toBe('baton.step one');
  });
});

describe('over OTLP/HTTP', () => {
  let receiver: Server;
  const posts: { path: string; contentType: string; body: string }[] = [];
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push({
          path: req.url ?? '',
          contentType: String(req.headers['content-type']),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise((r) => receiver.close(r));
  });

  test('OTEL_EXPORTER_OTLP_ENDPOINT sends the run’s spans to a receiver at <endpoint>/v1/traces', async () => {
    const { port } = receiver.address() as AddressInfo;
    const endpoint = `http://127.0.0.1:${port}`;
    // Worker (its env) and client (this process's env) both take tracing from the environment.
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    const h = await startHarness({
      tracing: 'env',
      env: (fake) => ({ ...fakeEnv(fake), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }),
    });
    // The same (shared) tracing the worker and client made, to flush it while polling.
    const tracing = tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })!;
    try {
      h.fake.on('Outline:', { text: 'OUTLINE-1', usage: { input: 7, output: 3 } });
      h.fake.on('Draft from OUTLINE-1', { text: 'DRAFT-2', usage: { input: 11, output: 5 } });
      const runId = id('otlp');
      await h.baton.run(twoSteps(), 'durable agents', { runId });
      // Closing the client exports what is buffered: the start's span and the (ended) model-call spans.
      await h.baton.close();
      const flushed = posts.map((p) => p.body).join('\n');
      expect(flushed).toContain('StartWorkflow:batonRun');
      expect(flushed).toContain('RunActivity:callModel');
      expect(flushed).toContain('"service.name","value":{"stringValue":"baton"}');
      type Span = {
        name: string;
        traceId: string;
        attributes: { key: string; value: Record<string, unknown> }[];
      };
      const received = await eventually(() => {
        const spans: Span[] = posts
          .filter((p) => p.path === '/v1/traces')
          .flatMap((p) => {
            const body = JSON.parse(p.body) as {
              resourceSpans: { scopeSpans: { spans: Span[] }[] }[];
            };
            return body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
          });
        const attr = (s: Span, k: string) => s.attributes.find((a) => a.key === k)?.value;
        const mine = spans.filter(
          (s) =>
            attr(s, 'baton.run_id')?.stringValue === runId ||
            attr(s, 'workflowId')?.stringValue === runId ||
            attr(s, 'temporalWorkflowId')?.stringValue === runId,
        );
        const names = new Set(mine.map((s) => s.name));
        const done = ['StartWorkflow:batonRun', 'RunWorkflow:batonRun', 'RunActivity:callModel'].every((n) =>
          names.has(n),
        );
        if (!done) {
          void tracing.forceFlush();
          return undefined;
        }
        return { mine, attr };
      });
      const { mine, attr } = received;
      expect(new Set(mine.map((s) => s.traceId)).size).toBe(1);
      const draft = mine.find(
        (s) => s.name === 'RunActivity:callModel' && attr(s, 'baton.step')?.stringValue === 'draft',
      )!;
      expect(attr(draft, 'gen_ai.request.model')).toEqual({ stringValue: 'claude-test' });
      expect(Number(attr(draft, 'gen_ai.usage.input_tokens')?.intValue)).toBe(11);
      expect(Number(attr(draft, 'gen_ai.usage.output_tokens')?.intValue)).toBe(5);
      expect(posts[0]!.contentType).toMatch(/application\/json/);
    } finally {
      delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      await h.close();
      await tracing.shutdown();
    }
  });
});

/** Run a created worker, look at it, and stop it (a worker holds its connection until it ran and stopped). */
async function inspect(worker: Worker, look: (w: Worker) => void): Promise<void> {
  const running = worker.run();
  try {
    look(worker);
  } finally {
    worker.shutdown();
    await running;
  }
}

describe('switched off', () => {
  beforeAll(installQuietRuntime);

  test('without OTEL_EXPORTER_OTLP_ENDPOINT a worker gets no tracing interceptor, module or sink', async () => {
    const { namespace, connectionOptions } = testTemporal();
    const connection = await NativeConnection.connect(connectionOptions);
    try {
      const bundle = await workflowBundle();
      const make = (env: NodeJS.ProcessEnv) =>
        createWorker({
          connection,
          namespace,
          taskQueue: id('off'),
          env,
          workflowBundle: bundle,
          shutdownGraceTime: '1s',
        });
      let offActivity = 0;
      await inspect(await make({}), (off) => {
        expect(off.options.sinks?.exporter).toBeUndefined();
        expect(off.options.interceptors.workflowModules).not.toContain(TRACING_WORKFLOW_MODULE);
        offActivity = off.options.interceptors.activity.length;
      });
      await inspect(await make({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }), (on) => {
        expect(on.options.sinks?.exporter).toBeDefined();
        // The SDK's activity interceptor and Baton's attributes: two factories more.
        expect(on.options.interceptors.activity.length - offActivity).toBe(2);
      });
      await inspect(
        await createWorker({
          connection,
          namespace,
          taskQueue: id('off'),
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
          workflowBundle: bundle,
          shutdownGraceTime: '1s',
          tracing: false,
        }),
        (forcedOff) => {
          expect(forcedOff.options.sinks?.exporter).toBeUndefined();
          expect(forcedOff.options.interceptors.activity.length).toBe(offActivity);
        },
      );
      expect(tracingFromEnv({})).toBeUndefined();
    } finally {
      await connection.close();
    }
  });

  test('without OTEL_EXPORTER_OTLP_ENDPOINT the client gets no tracing interceptor', async () => {
    const { namespace, connectionOptions } = testTemporal();
    const connection = await Connection.connect(connectionOptions);
    const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    try {
      delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      const off = await BatonClient.connect({ connection, namespace });
      expect(off.temporal.options.interceptors.workflow ?? []).toHaveLength(0);
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9';
      const on = await BatonClient.connect({ connection, namespace });
      expect(on.temporal.options.interceptors.workflow).toHaveLength(1);
      const forcedOff = await BatonClient.connect({ connection, namespace, tracing: false });
      expect(forcedOff.temporal.options.interceptors.workflow ?? []).toHaveLength(0);
    } finally {
      if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
      await connection.close();
    }
  });

  test('a worker that bundles its workflows adds the tracing workflow module only when tracing is on', async () => {
    const { namespace, connectionOptions } = testTemporal();
    const connection = await NativeConnection.connect(connectionOptions);
    try {
      const on = await createWorker({
        connection,
        namespace,
        taskQueue: id('bundle'),
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
        workflowsPath: require.resolve('../../src/workflows'),
        shutdownGraceTime: '1s',
      });
      await inspect(on, (w) =>
        expect(w.options.interceptors.workflowModules).toContain(TRACING_WORKFLOW_MODULE),
      );
    } finally {
      await connection.close();
    }
  });

  test('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is, OTEL_SERVICE_NAME names the service', () => {
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      otlpTracesUrl({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:4318/custom',
      }),
    ).toBe('http://other:4318/custom');
    const named = tracingFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:10',
      OTEL_SERVICE_NAME: 'ops',
    })!;
    expect(named.resource.attributes['service.name']).toBe('ops');
  });

  test('an endpoint that is not an http(s) URL is refused, naming the variable', () => {
    expect(() => tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' })).toThrow(
      TracingSettingsError,
    );
    expect(() => tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318 is not an http\(s\) URL/,
    );
  });
});

// The tracing interceptors add spans and headers, never a command: every recorded history replays
// with them bundled in, as it does without (replay.test.ts).
const dir = join(__dirname, '..', 'histories');
const files = existsSync(dir)
  ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort()
  : [];
test.each(files)('recorded history %s replays with the tracing interceptors bundled', async (file) => {
  installQuietRuntime();
  const workflows = basename(file).startsWith('examples-')
    ? '../../examples/workflows'
    : '../../src/workflows';
  const bundle = await bundleFor(require.resolve(workflows), [TRACING_WORKFLOW_MODULE]);
  const report = await replayHistory(readHistoryFile(join(dir, file)), undefined, { workflowBundle: bundle });
  if (!report.ok) throw new Error(`${file}: ${report.problem}`);
});
