import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, promises as fsp, statSync, utimes } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Connection, type TLSConfig } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { devServerTuningArgs, startDevServer } from './dev-server';
import { ensureSearchAttributes } from './search-attributes';

/**
 * The CLI version Baton builds. v1.5.1 exactly: later releases carry a `replace` directive in
 * go.mod, which `go install module@version` refuses.
 */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Where the Temporal server of a {@link TemporalHandle} came from, in resolution order. */
export type TemporalSource = 'env' | 'path' | 'tools' | 'cache' | 'go-install' | 'sdk-download';

/** Connection settings that fit both `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** A Temporal server to use, and how to let go of it. */
export interface TemporalHandle {
  address: string;
  namespace: string;
  connectionOptions: TemporalConnectionOptions;
  source: TemporalSource;
  uiUrl?: string;
  /** Stops a server Baton started; does nothing for an existing cluster. */
  stop(): Promise<void>;
}

/** A `temporal` binary found on this machine. */
export interface FoundBinary {
  path: string;
  source: 'path' | 'tools' | 'cache' | 'go-install';
}

/** Where to look; every field defaults to the real process, so tests can point it at temp dirs. */
export interface FindOptions {
  env?: NodeJS.ProcessEnv;
  /** The project root; `<projectDir>/.tools/bin/temporal` is checked. */
  projectDir?: string;
  /** The build cache; defaults to {@link defaultCacheDir}. */
  cacheDir?: string;
  /** Build the CLI with Go when nothing else is found (default true). */
  allowBuild?: boolean;
  /** Progress lines (the one-line build notice); stderr by default. */
  log?: (line: string) => void;
}

/** What {@link resolveTemporal} decided, before anything is started. */
export type TemporalPlan =
  | { kind: 'external'; address: string; namespace: string; connectionOptions: TemporalConnectionOptions }
  | ({ kind: 'binary' } & FoundBinary)
  | { kind: 'none'; tried: string[] };

/** Options for {@link acquireTemporal}. */
export interface AcquireOptions extends FindOptions {
  /** SQLite file for a dev server that keeps workflows across restarts. */
  dbFile?: string;
  ui?: boolean;
  port?: number;
  uiPort?: number;
  /** Let the SDK download a dev server as the last resort (default true). */
  allowDownload?: boolean;
}

/** No Temporal server could be found or started; the message lists every place tried and what to do. */
export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';

  constructor(readonly tried: string[]) {
    super(
      [
        'No Temporal server available. Tried, in order:',
        ...tried.map((line) => `  - ${line}`),
        'To fix, do one of:',
        '  - set TEMPORAL_ADDRESS (with TEMPORAL_NAMESPACE, and TEMPORAL_API_KEY or TEMPORAL_TLS_* for Temporal Cloud) to use a running cluster;',
        '  - put the Temporal CLI on PATH as `temporal` (https://docs.temporal.io/cli), or at <project>/.tools/bin/temporal;',
        `  - install Go (https://go.dev/dl) so Baton can build the CLI ${TEMPORAL_CLI_VERSION} once into its cache.`,
      ].join('\n'),
    );
  }
}

const BINARY = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
const LOCK_STALE_MS = 15 * 60_000;

/** The build cache: `$BATON_TEMPORAL_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/baton/bin`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BATON_TEMPORAL_CACHE_DIR) return env.BATON_TEMPORAL_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'baton', 'bin');
}

/** The nearest folder above this file that holds a package.json (works from src/ and from dist/). */
export function defaultProjectDir(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/** Steps 2–4 without building: PATH, then `<project>/.tools/bin`, then the build cache. */
export function locateTemporalBinary(opts: FindOptions = {}): FoundBinary | { tried: string[] } {
  const env = opts.env ?? process.env;
  const tried: string[] = [];
  const onPath = which(BINARY, env);
  if (onPath) return { path: onPath, source: 'path' };
  tried.push(`PATH: no executable \`${BINARY}\` in any of its ${pathDirs(env).length} folders`);

  const candidates: Array<[FoundBinary['source'], string, string]> = [
    ['tools', 'project tools folder', join(opts.projectDir ?? defaultProjectDir(), '.tools', 'bin', BINARY)],
    ['cache', 'build cache', join(opts.cacheDir ?? defaultCacheDir(env), BINARY)],
  ];
  for (const [source, label, path] of candidates) {
    if (isExecutable(path)) return { path, source };
    tried.push(`${label}: ${path} ${existsSync(path) ? 'is not executable' : 'does not exist'}`);
  }
  return { tried };
}

/** Steps 2–5: {@link locateTemporalBinary}, then a one-time `go install` into the cache when Go is on PATH. */
export async function findTemporalBinary(opts: FindOptions = {}): Promise<FoundBinary | { tried: string[] }> {
  const found = locateTemporalBinary(opts);
  if ('path' in found) return found;
  const { tried } = found;
  const env = opts.env ?? process.env;
  const go = which(process.platform === 'win32' ? 'go.exe' : 'go', env);
  if (opts.allowBuild === false) {
    tried.push('go install: not allowed here (allowBuild: false)');
  } else if (!go) {
    tried.push('go install: `go` is not on PATH');
  } else {
    const log = opts.log ?? logToStderr;
    try {
      return await buildOnce(go, opts.cacheDir ?? defaultCacheDir(env), env, log);
    } catch (err) {
      tried.push(`go install: ${(err as Error).message}`);
    }
  }
  return { tried };
}

/** Decides which server to use (steps 1–5) without starting one. */
export async function resolveTemporal(opts: FindOptions = {}): Promise<TemporalPlan> {
  const env = opts.env ?? process.env;
  if (env.TEMPORAL_ADDRESS) {
    const config = loadClientConnectConfig({ overrideEnvVars: definedOnly(env) });
    const { address, tls, apiKey, metadata } = config.connectionOptions;
    const connectionOptions: TemporalConnectionOptions = {
      address: address ?? env.TEMPORAL_ADDRESS,
      ...(tls != null && { tls }),
      ...(typeof apiKey === 'string' && { apiKey }),
      // envconfig fills metadata from TEMPORAL_GRPC_META_* and the TOML profile: strings only.
      ...(metadata && { metadata: metadata as Record<string, string> }),
    };
    return {
      kind: 'external',
      address: connectionOptions.address,
      namespace: config.namespace ?? 'default',
      connectionOptions,
    };
  }
  const found = await findTemporalBinary(opts);
  if ('path' in found) return { kind: 'binary', ...found };
  return { kind: 'none', tried: ['TEMPORAL_ADDRESS: not set', ...found.tried] };
}

/**
 * Finds or provisions a Temporal server without a manual step: an existing cluster named by
 * TEMPORAL_ADDRESS, else a dev server from the first `temporal` binary found (built with Go
 * once if need be), else the SDK's downloaded dev server. Throws {@link TemporalUnavailableError}.
 *
 * @example
 * const temporal = await acquireTemporal();
 * const connection = await Connection.connect(temporal.connectionOptions);
 * // ...
 * await temporal.stop();
 */
export async function acquireTemporal(opts: AcquireOptions = {}): Promise<TemporalHandle> {
  const log = opts.log ?? logToStderr;
  const plan = await resolveTemporal({ ...opts, log });
  if (plan.kind === 'external') return useExternal(plan, log);
  if (plan.kind === 'binary') {
    const server = await startDevServer({ binary: plan.path, ...pick(opts) });
    return { ...server, connectionOptions: { address: server.address }, source: plan.source };
  }
  if (opts.allowDownload === false) {
    throw new TemporalUnavailableError([
      ...plan.tried,
      'SDK download: not allowed here (allowDownload: false)',
    ]);
  }
  return startWithSdkDownload(opts, plan.tried);
}

/** Checks that the cluster answers and registers Baton's search attributes there when missing. */
async function useExternal(
  plan: Extract<TemporalPlan, { kind: 'external' }>,
  log: (line: string) => void,
): Promise<TemporalHandle> {
  // lazy + ensureConnected rather than Connection.connect, which leaks its channel when it fails.
  const connection = Connection.lazy({ ...plan.connectionOptions, connectTimeout: '10s' });
  try {
    await connection.ensureConnected();
  } catch (err) {
    await connection.close();
    throw new TemporalUnavailableError([
      `TEMPORAL_ADDRESS=${plan.address}: set, but no Temporal server answered there (${(err as Error).message}); unset it to let Baton start a local dev server`,
    ]);
  }
  try {
    await ensureSearchAttributes(connection, plan.namespace);
  } catch (err) {
    // Cloud API keys often lack the admin right to add search attributes; runs still work without them.
    log(
      `Could not register Baton's search attributes in namespace ${plan.namespace}: ${(err as Error).message}`,
    );
  } finally {
    await connection.close();
  }
  return { ...plan, source: 'env', stop: async () => {} };
}

/** Step 6: the SDK's own dev server download (needs temporal.download to be reachable). */
async function startWithSdkDownload(opts: AcquireOptions, tried: string[]): Promise<TemporalHandle> {
  // Imported lazily: @temporalio/testing loads the worker's native bridge, which most callers never need.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        ip: '127.0.0.1',
        port: opts.port,
        ui: opts.ui ?? false,
        uiPort: opts.uiPort,
        dbFilename: opts.dbFile,
        extraArgs: devServerTuningArgs(),
      },
    });
    const uiPort = opts.uiPort ?? Number(env.address.split(':').pop()) + 1000;
    return {
      address: env.address,
      namespace: env.namespace ?? 'default',
      connectionOptions: { address: env.address },
      source: 'sdk-download',
      uiUrl: opts.ui ? `http://127.0.0.1:${uiPort}` : undefined,
      stop: () => env.teardown(),
    };
  } catch (err) {
    throw new TemporalUnavailableError([...tried, `SDK download: ${(err as Error).message}`]);
  }
}

/**
 * Runs `go install` once across processes: `mkdir <cache>/.build.lock` is atomic, so one process
 * builds while the others wait for the lock to go away. The binary is built into the lock folder
 * and renamed into place, so nobody ever sees a half-written file.
 */
async function buildOnce(
  go: string,
  cacheDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<FoundBinary> {
  const target = join(cacheDir, BINARY);
  const lock = join(cacheDir, '.build.lock');
  await fsp.mkdir(cacheDir, { recursive: true });
  let announced = false;
  for (;;) {
    if (isExecutable(target)) return { path: target, source: 'cache' };
    try {
      await fsp.mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(lock)) {
      await fsp.rm(lock, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`Waiting for another process to finish building the Temporal CLI (lock: ${lock})`);
    announced = true;
    await sleep(1000);
  }

  // The lock's mtime is its heartbeat: a build that outlives LOCK_STALE_MS is not mistaken for a dead one.
  const heartbeat = setInterval(() => utimes(lock, new Date(), new Date(), () => {}), 60_000);
  heartbeat.unref();
  try {
    await fsp.writeFile(join(lock, 'owner'), `${process.pid} ${hostname()}`);
    if (isExecutable(target)) return { path: target, source: 'cache' };
    log(
      `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go, about 5 minutes, once; cached in ${cacheDir}`,
    );
    const staging = join(lock, 'bin');
    await runQuietly(go, ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
      ...env,
      CGO_ENABLED: '0',
      GOBIN: staging,
    }).catch((err: Error) => {
      log(err.message);
      throw err;
    });
    await fsp.rename(join(staging, BINARY), target);
    return { path: target, source: 'go-install' };
  } finally {
    clearInterval(heartbeat);
    await fsp.rm(lock, { recursive: true, force: true });
  }
}

/** A lock is stale when its heartbeat stopped, or when its owner on this host is gone. */
async function isStale(lock: string): Promise<boolean> {
  const stat = await fsp.stat(lock).catch(() => undefined);
  if (!stat) return false; // released meanwhile: the caller just tries again
  if (Date.now() - stat.mtimeMs > LOCK_STALE_MS) return true;
  const [pid, host] = (await fsp.readFile(join(lock, 'owner'), 'utf8').catch(() => '')).split(' ');
  return host === hostname() && !isAlive(Number(pid));
}

/** Runs a command, keeping its output to itself unless it fails. */
function runQuietly(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-3000);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `\`${command} ${args.join(' ')}\` failed (${signal ?? `exit code ${code}`}):\n${output.trim()}`,
          ),
        );
    });
  });
}

function which(name: string, env: NodeJS.ProcessEnv): string | undefined {
  return pathDirs(env)
    .map((dir) => join(dir, name))
    .find(isExecutable);
}

function pathDirs(env: NodeJS.ProcessEnv): string[] {
  return (env.PATH ?? env.Path ?? '').split(delimiter).filter(Boolean);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function pick({
  port,
  ui,
  uiPort,
  dbFile,
}: AcquireOptions): Pick<AcquireOptions, 'port' | 'ui' | 'uiPort' | 'dbFile'> {
  return { port, ui, uiPort, dbFile };
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

function logToStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
