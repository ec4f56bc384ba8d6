import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from '../server/dev-server';

/** The Redis address streams go through, if the environment names one. */
export function redisUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.BATON_REDIS_URL || env.REDIS_URL || undefined;
}

/** A Redis to stream through, and how to let go of it. */
export interface RedisHandle {
  url: string;
  /** Where it came from: an address in the environment, a `redis-server` on PATH, or one installed now. */
  source: 'env' | 'path' | 'apt-get';
  /** Stops a server Baton started; does nothing for an existing one. */
  stop(): Promise<void>;
}

/** No Redis could be found or started; the message says what to install. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** `redis-server` on PATH, if there is one. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of dirs) {
    const path = join(dir, 'redis-server');
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Starts `redis-server` on 127.0.0.1 at a free port, in memory only (no snapshot, no append-only
 * file), and resolves once it answers PING. It lives no longer than this process.
 */
export async function startRedisServer(binary: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new RedisUnavailableError(`${binary} ${args.join(' ')} stopped before serving: ${stderr.trim()}`);
    const { default: Redis } = require('ioredis') as typeof import('ioredis');
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return { url, stop };
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      await stop();
      throw new RedisUnavailableError(`redis-server did not answer on ${url} within 20 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A Redis for streams, found or started the way the Temporal server is: BATON_REDIS_URL (or
 * REDIS_URL) when set; else `redis-server` on PATH, started here; else, as root on Debian, Debian's
 * `redis-server` package installed once with apt-get; else RedisUnavailableError saying what to install.
 *
 * @example const redis = await acquireRedis(); process.env.BATON_REDIS_URL = redis.url;
 */
export async function acquireRedis(
  opts: { env?: NodeJS.ProcessEnv; install?: boolean; log?: (line: string) => void } = {},
): Promise<RedisHandle> {
  const env = opts.env ?? process.env;
  const url = redisUrlFromEnv(env);
  if (url) return { url, source: 'env', stop: async () => {} };
  let binary = findRedisServer(env);
  let source: RedisHandle['source'] = 'path';
  if (!binary && opts.install !== false && process.getuid?.() === 0 && findOnPath('apt-get', env)) {
    (opts.log ?? ((l) => process.stderr.write(`${l}\n`)))(
      "Installing Debian's redis-server with apt-get (once) for cross-process streams...",
    );
    const res = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], {
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: 'ignore',
    });
    if (res.status === 0) {
      binary = findRedisServer(env);
      source = 'apt-get';
    }
  }
  if (!binary)
    throw new RedisUnavailableError(
      'no Redis for cross-process streams: set BATON_REDIS_URL=redis://host:6379, or install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)',
    );
  const server = await startRedisServer(binary);
  return { url: server.url, source, stop: server.stop };
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
