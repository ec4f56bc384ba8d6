// Memory defaults of `baton worker`. These settings take effect only when a process starts: V8's
// heap limit (without one, garbage from thousands of workflow activations piles up before V8
// collects it) and young-generation size, and glibc's malloc arenas (by default 8 per core, each
// keeping freed native memory). Started as a command, bin/baton.js has sh start node with them
// (execLine: one process). Started as `node bin/baton.js worker`, `baton worker` starts itself once
// more with them, unless they are set already, and passes signals through; the started process
// exits when this one is gone. This file is plain and small so that the starting process stays small.
'use strict';
const { spawn } = require('node:child_process');

/** V8 old-space limit of `baton worker`, in MB (BATON_WORKER_HEAP_MB; 0 keeps Node's default). */
const DEFAULT_WORKER_HEAP_MB = 160;
/**
 * V8 young-generation semi-space of `baton worker`, in MB (Node's default is 16): each of the
 * worker's two V8 heaps (the main thread and the workflow thread) keeps two semi-spaces committed,
 * so 8 instead of 16 is about 32 MB less resident memory. Set with the heap limit, not on its own.
 */
const DEFAULT_WORKER_SEMI_SPACE_MB = 8;
/** glibc malloc arenas of `baton worker` (MALLOC_ARENA_MAX). */
const DEFAULT_MALLOC_ARENAS = 2;
const MARK = 'BATON_WORKER_CHILD';

/**
 * What the restarted worker gets: node flags and environment additions; undefined when nothing is
 * missing. Throws an Error naming BATON_WORKER_HEAP_MB when it is not usable.
 */
function workerMemorySettings(env, execArgv, platform = process.platform) {
  if (env[MARK] === '1') return undefined;
  const raw = env.BATON_WORKER_HEAP_MB;
  let heap = DEFAULT_WORKER_HEAP_MB;
  if (raw !== undefined && raw !== '') {
    heap = Number(raw);
    if (!Number.isInteger(heap) || heap < 0 || (heap > 0 && heap < 64))
      throw new Error(
        `BATON_WORKER_HEAP_MB=${raw} is not a whole number of MB of at least 64 (or 0 for Node's default)`,
      );
  }
  const heapSet = [...execArgv, ...(env.NODE_OPTIONS || '').split(/\s+/)].some((a) =>
    a.startsWith('--max-old-space-size'),
  );
  const given = [...execArgv, ...(env.NODE_OPTIONS || '').split(/\s+/)];
  const semiSet = given.some((a) => a.startsWith('--max-semi-space-size'));
  const nodeArgs =
    heap > 0 && !heapSet
      ? [
          `--max-old-space-size=${heap}`,
          ...(semiSet ? [] : [`--max-semi-space-size=${DEFAULT_WORKER_SEMI_SPACE_MB}`]),
        ]
      : [];
  const extra = {};
  if (env.MALLOC_ARENA_MAX === undefined && platform === 'linux')
    extra.MALLOC_ARENA_MAX = String(DEFAULT_MALLOC_ARENAS);
  if (!nodeArgs.length && !Object.keys(extra).length) return undefined;
  return { nodeArgs, env: extra };
}

/** A word quoted for sh. */
const shellQuote = (w) => `'${String(w).replace(/'/g, `'\\''`)}'`;

/**
 * For bin/baton.js started by sh: the command (without the script and its arguments) that runs
 * `baton worker` with the memory settings in this very process (`exec`), or '' when nothing is
 * missing. A bad BATON_WORKER_HEAP_MB is reported here and ends the command with exit code 2.
 */
function execLine(args) {
  if (args.includes('--help') || args.includes('-h')) return '';
  let settings;
  try {
    settings = workerMemorySettings(process.env, []);
  } catch (err) {
    process.stderr.write(`baton worker: ${err.message}\n`);
    process.exit(2);
  }
  if (!settings) return '';
  const env = { ...settings.env, [MARK]: '1' };
  const exports = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return `export ${exports.join(' ')}; exec ${[process.execPath, ...settings.nodeArgs].map(shellQuote).join(' ')}`;
}

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Start `baton worker` again with the memory settings; returns false when this process should run it. */
function restartWorker() {
  let settings;
  try {
    settings = workerMemorySettings(process.env, process.execArgv);
  } catch (err) {
    process.stderr.write(`baton worker: ${err.message}\n`);
    process.exit(2);
  }
  if (!settings) return false;
  const child = spawn(
    process.execPath,
    [...settings.nodeArgs, ...process.execArgv, ...process.argv.slice(1)],
    {
      env: { ...process.env, ...settings.env, [MARK]: '1' },
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      // Its own process group: a terminal's Ctrl-C reaches it once, through this process.
      detached: true,
    },
  );
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => child.kill(s));
  child.on('error', (err) => {
    process.stderr.write(`baton worker: could not start the worker process: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) =>
    process.exit(code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] || 1) : 1)),
  );
  return true;
}

module.exports = {
  workerMemorySettings,
  restartWorker,
  execLine,
  DEFAULT_WORKER_HEAP_MB,
  DEFAULT_WORKER_SEMI_SPACE_MB,
  DEFAULT_MALLOC_ARENAS,
};
