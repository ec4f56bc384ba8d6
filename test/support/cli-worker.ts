/**
 * The real `baton worker` command in a child process (from source), on the shared test server,
 * its model calls pointed at a fake; resolved once it polls its task queue.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testTemporal } from './temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');

export interface CliWorker {
  child: ChildProcessWithoutNullStreams;
  /** Everything the worker wrote to stderr so far. */
  stderr(): string;
  /** The worker's exit code, once it exits. */
  exited: Promise<number | null>;
}

/**
 * Start `baton worker --task-queue <taskQueue> ...args` with only PATH, a fresh HOME, the test
 * server's address and an OpenAI key and base URL for the fake, plus `env`.
 */
export async function startCliWorker(opts: {
  taskQueue: string;
  openaiBaseURL: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<CliWorker> {
  const { address, namespace } = testTemporal();
  const dir = mkdtempSync(join(tmpdir(), 'baton-cli-worker-'));
  const child = spawn(
    process.execPath,
    [BIN, 'worker', '--task-queue', opts.taskQueue, ...(opts.args ?? [])],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        BATON_FROM_SOURCE: '1',
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: opts.openaiBaseURL,
        ...opts.env,
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(
      () => stderr.includes('polling task queue') && (clearInterval(timer), resolve()),
      100,
    );
    void exited.then(
      (code) => (clearInterval(timer), reject(new Error(`worker exited early (${code}): ${stderr}`))),
    );
  });
  return { child, stderr: () => stderr, exited };
}
