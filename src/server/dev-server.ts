import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { Connection } from '@temporalio/client';
import { ensureSearchAttributes, searchAttributeArgs } from './search-attributes';

/**
 * Dynamic config every dev server Baton starts gets. The dev server has one history shard whose
 * task readers are rate limited to 20 polls a second, which adds about 100 ms to every step;
 * these values lift that limit (measured in /work/shared/TEMPORAL.md: a 20-step chain goes
 * from about 2,050 ms to about 300 ms).
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string | number | boolean>> = {
  'history.transferProcessorMaxPollRPS': 10000,
  'history.transferProcessorMaxPollHostRPS': 10000,
  'history.timerProcessorMaxPollRPS': 10000,
  'history.timerProcessorMaxPollHostRPS': 10000,
  'history.visibilityProcessorMaxPollRPS': 10000,
  'history.visibilityProcessorMaxPollHostRPS': 10000,
  'history.outboundProcessorMaxPollRPS': 10000,
  'history.outboundProcessorMaxPollHostRPS': 10000,
  'system.enableActivityEagerExecution': true,
};

/** Options for {@link startDevServer}. */
export interface DevServerOptions {
  /** Path to the `temporal` CLI binary. */
  binary: string;
  /** Front-end gRPC port; a free one when omitted. */
  port?: number;
  /** Serve the Web UI (off by default: tests and CI do not need it). */
  ui?: boolean;
  /** Web UI port; a free one when omitted and `ui` is on. */
  uiPort?: number;
  /** SQLite file that keeps workflows across restarts; in memory when omitted. */
  dbFile?: string;
  /** How long to wait for the server to answer; 60 s by default. */
  startTimeoutMs?: number;
}

/** A running dev server started by {@link startDevServer}. */
export interface DevServer {
  address: string;
  namespace: 'default';
  uiUrl?: string;
  pid: number;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const TAIL_CHARS = 4000;
const KILL_AFTER_MS = 10_000;

/** `temporal server start-dev` arguments for Baton's dynamic config and search attributes (also passed to the SDK's own dev server). */
export function devServerTuningArgs(): string[] {
  const dynamicConfig = Object.entries(DEV_SERVER_DYNAMIC_CONFIG).flatMap(([key, value]) => [
    '--dynamic-config-value',
    `${key}=${JSON.stringify(value)}`,
  ]);
  return [...dynamicConfig, ...searchAttributeArgs()];
}

/** A TCP port that was free a moment ago (bound to port 0, then released). */
export async function freePort(host = HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the bound port'))));
    });
  });
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 with Baton's dynamic config and search
 * attributes, and resolves once it answers `GetSystemInfo`.
 *
 * @example
 * const server = await startDevServer({ binary: '/root/.cache/baton/bin/temporal' });
 * try { ... } finally { await server.stop(); }
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port ?? (await freePort());
  const uiPort = opts.ui ? (opts.uiPort ?? (await freePort())) : undefined;
  const address = `${HOST}:${port}`;
  const args = ['server', 'start-dev', '--ip', HOST, '--port', String(port)];
  if (uiPort !== undefined) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  args.push('--log-level', 'warn', '--namespace', 'default', ...devServerTuningArgs());

  const child = spawn(opts.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = captureTail(child);
  const exited = waitForExit(child);
  // The server lives as long as this process: never keep Node alive just for it, and take it down on exit.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.unref();

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    await exited;
    clearTimeout(timer);
  };

  // Aborted when the process dies, so that polling stops at once instead of running out its timeout.
  const polling = new AbortController();
  void exited.then(() => polling.abort());
  const serving = waitUntilServing(port, opts.startTimeoutMs ?? 60_000, () => output.tail(), polling.signal);
  try {
    await Promise.race([
      serving,
      exited.then((how) => {
        throw new Error(
          `temporal server start-dev stopped before serving (${how}).\n` +
            `Command: ${opts.binary} ${args.join(' ')}\nOutput:\n${output.tail()}`,
        );
      }),
    ]);
    // A reused --db-filename keeps the search attributes it was created with; add any Baton gained since.
    if (opts.dbFile) await withConnection(address, (conn) => ensureSearchAttributes(conn, 'default'));
  } catch (err) {
    await stop();
    // Let an attempt still in flight (at most its 1 s connect timeout) finish, so nothing outlives the rejection.
    await serving.catch(() => {});
    throw err;
  }

  return {
    address,
    namespace: 'default',
    uiUrl: uiPort !== undefined ? `http://${HOST}:${uiPort}` : undefined,
    pid: child.pid!,
    stop,
  };
}

/** Polls until the front end answers GetSystemInfo, rather than sleeping a guessed time. */
async function waitUntilServing(
  port: number,
  timeoutMs: number,
  tail: () => string,
  signal: AbortSignal,
): Promise<void> {
  const address = `${HOST}:${port}`;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline && !signal.aborted) {
    try {
      // A refused TCP connect fails at once, while a gRPC connect waits out its deadline; so the
      // gRPC check (ensureConnected resolves once GetSystemInfo answers) waits for an open port.
      if (await acceptsTcp(port)) {
        await withConnection(address, async () => {}, 1000);
        return;
      }
      lastError = new Error(`nothing listens on ${address} yet`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `Temporal dev server at ${address} did not answer within ${timeoutMs / 1000} s ` +
      `(last error: ${(lastError as Error)?.message ?? 'none'}).\nOutput:\n${tail()}`,
  );
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function withConnection<T>(
  address: string,
  fn: (conn: Connection) => Promise<T>,
  connectTimeoutMs = 5000,
): Promise<T> {
  // lazy + ensureConnected rather than Connection.connect, which leaks its channel when it fails.
  const conn = Connection.lazy({ address, connectTimeout: connectTimeoutMs });
  try {
    await conn.ensureConnected();
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

/** Keeps the last few KB of stdout and stderr for error messages (and drains the pipes so the server never blocks). */
function captureTail(child: ChildProcess): { tail(): string } {
  let buffer = '';
  const append = (chunk: Buffer): void => {
    buffer = (buffer + chunk.toString('utf8')).slice(-TAIL_CHARS);
  };
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', append);
    // Pipes are handles too; unref them so that they do not hold the event loop open.
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }
  return { tail: () => buffer.trim() || '(no output)' };
}

/** Resolves with a description of how the process ended, including a failed spawn (no exit event then). */
function waitForExit(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once('error', (err) => resolve(`could not run it: ${err.message}`));
    child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
  });
}
