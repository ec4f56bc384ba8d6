/**
 * A real worker on the shared test server, with the real SDK clients pointed at a fake model
 * server. One per test file: each gets its own task queue, so files can run in parallel.
 */
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import type { MemoryStore } from '../../src/activities/memory';
import type { ToolDefinition } from '../../src/activities/tools';
import { BatonClient } from '../../src/client';
import { dataConverterFromEnv } from '../../src/codec';
import { TRACING_WORKFLOW_MODULE, type Tracing } from '../../src/telemetry';
import {
  batonBundlerOptions,
  batonWorkflowsModule,
  createWorker,
  type BatonWorkerOptions,
} from '../../src/worker';
import { FakeModelServer } from './fake-model-server';
import { testTemporal, testLogLevel } from './temporal-env';

const bundles = new Map<string, ReturnType<typeof bundleWorkflowCode>>();

/** A workflows module bundled once per jest worker process. */
export function bundleFor(
  workflowsPath: string,
  workflowInterceptorModules: string[] = [],
): ReturnType<typeof bundleWorkflowCode> {
  const key = [workflowsPath, ...workflowInterceptorModules].join('|');
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules,
      logger: new DefaultLogger('WARN'),
      // Baton's own workflows are bundled as `baton worker` ships them: preloaded, shared by runs.
      ...(workflowsPath === batonWorkflowsModule() && batonBundlerOptions()),
    });
    bundles.set(key, bundle);
  }
  return bundle;
}

/** Baton's own workflows (src/workflows), bundled once per jest worker process. */
export function workflowBundle(): ReturnType<typeof bundleWorkflowCode> {
  return bundleFor(require.resolve('../../src/workflows'));
}

/** The environment a test worker's model calls read: keys and base URLs pointing at the fake. */
export function fakeEnv(fake: FakeModelServer): NodeJS.ProcessEnv {
  return {
    OPENAI_API_KEY: 'sk-test-openai',
    OPENAI_BASE_URL: fake.openaiBaseURL,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    ANTHROPIC_BASE_URL: fake.anthropicBaseURL,
    GEMINI_API_KEY: 'gm-test',
    GOOGLE_GEMINI_BASE_URL: fake.geminiBaseURL,
  };
}

export interface Harness {
  fake: FakeModelServer;
  baton: BatonClient;
  /** The client connection (for a plain Temporal Client on the same server). */
  connection: Connection;
  taskQueue: string;
  address: string;
  namespace: string;
  worker: Worker;
  close(): Promise<void>;
}

let seq = 0;
let runtimeInstalled = false;

/** The SDK's runtime is a per-process singleton: install it (quiet) once. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger(testLogLevel()) });
}

/**
 * Start a fake model server, a worker and a client on a fresh task queue. `workflowsPath` runs
 * another workflows module (the pattern tests use examples/workflows.ts) and `tools` registers tools.
 */
export async function startHarness(
  opts: {
    /** The worker's environment (default: fakeEnv); a function gets the fake to point at. */
    env?: NodeJS.ProcessEnv | ((fake: FakeModelServer) => NodeJS.ProcessEnv);
    taskQueue?: string;
    workflowsPath?: string;
    tools?: ToolDefinition[];
    /** The worker's long-term memory store (default: as the environment says). */
    memoryStore?: MemoryStore;
    /** BATON_CODEC_KEYS for worker and client (default: this process's, so a whole suite can run encrypted). */
    codecKeys?: string;
    /** Another server than the suite's (e.g. a dev server on a SQLite file). */
    temporal?: ReturnType<typeof testTemporal>;
    /**
     * Trace worker and client into this, or ('env') as the environment says (OTEL_* in the worker's
     * `env` and this process's); either way the workflow bundle includes the tracing interceptors.
     */
    tracing?: Tracing | 'env';
    /** More worker options (scripts, MCP servers, allowed endpoints). */
    worker?: Partial<Pick<BatonWorkerOptions, 'scripts' | 'mcpServers' | 'allowedEndpoints'>>;
  } = {},
): Promise<Harness> {
  installQuietRuntime();
  const { address, namespace, connectionOptions } = opts.temporal ?? testTemporal();
  const fake = await FakeModelServer.start();
  const codecKeys = opts.codecKeys ?? process.env.BATON_CODEC_KEYS;
  const codecEnv = codecKeys ? { BATON_CODEC_KEYS: codecKeys } : {};
  const taskQueue = opts.taskQueue ?? `test-${process.pid}-${++seq}-${Date.now()}`;
  const nativeConnection = await NativeConnection.connect(connectionOptions);
  const worker = await createWorker({
    connection: nativeConnection,
    namespace,
    taskQueue,
    env: { ...(typeof opts.env === 'function' ? opts.env(fake) : (opts.env ?? fakeEnv(fake))), ...codecEnv },
    workflowBundle: await bundleFor(
      opts.workflowsPath ?? require.resolve('../../src/workflows'),
      opts.tracing ? [TRACING_WORKFLOW_MODULE] : [],
    ),
    ...(opts.tracing !== 'env' && { tracing: opts.tracing ?? false }),
    ...(opts.tools && { tools: opts.tools }),
    ...opts.worker,
    ...(opts.memoryStore && { memoryStore: opts.memoryStore }),
    // A test's worker closes when the test is done; a call a test left hanging must not hold it for
    // the production drain time (10 minutes). drain.test.ts covers the drain of `baton worker`.
    shutdownGraceTime: '2s',
  });
  const running = worker.run();
  const connection = await Connection.connect(connectionOptions);
  const dataConverter = dataConverterFromEnv(codecEnv);
  const baton = await BatonClient.connect({
    connection,
    namespace,
    taskQueue,
    // Explicit, so that BATON_CODEC_KEYS of this process does not apply when `codecKeys` is ''.
    dataConverter: dataConverter ?? {},
    ...(opts.tracing !== 'env' && { tracing: opts.tracing ?? false }),
  });
  return {
    fake,
    baton,
    connection,
    taskQueue,
    address,
    namespace,
    worker,
    async close() {
      // Event streams a test (or an HTTP server on this client) left open stop first: none of
      // their state reads may still be in flight when the connection closes.
      await baton.close();
      // A test may have stopped the worker already (to leave its runs without one).
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await fake.close();
    },
  };
}
