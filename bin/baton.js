#!/bin/sh
//bin/sh -c :; if [ "$1" = worker ]; then s=$(node "$0" --baton-worker-exec "$@") || exit $?; [ -z "$s" ] || eval "$s \"\$0\" \"\$@\""; fi; exec node "$0" "$@"
// The line above is for sh (to Node it is a comment): started as a command (`baton`, bin/baton.js),
// `baton worker` replaces the shell with node started with the worker's memory settings
// (bin/worker-memory.js), so it runs as one process. Started as `node bin/baton.js worker`, the
// worker is restarted in a second process instead.
// Runs the compiled CLI; from a source checkout without a build, falls back to tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const args = process.argv.slice(2);
if (args[0] === '--baton-worker-exec') {
  // Asked by the sh line above: the shell command that starts the worker with its settings.
  process.stdout.write(require('./worker-memory').execLine(args.slice(1)));
  return;
}
// `baton worker` runs in a process started with a heap limit and two malloc arenas (bin/worker-memory.js).
const worker = args[0] === 'worker' && !args.includes('--help') && !args.includes('-h');
if (!(worker && require('./worker-memory').restartWorker())) {
  const compiled = join(__dirname, '..', 'dist', 'cli', 'main.js');
  if (existsSync(compiled) && !process.env.BATON_FROM_SOURCE) {
    require(compiled);
  } else {
    require('tsx/cjs');
    require(join(__dirname, '..', 'src', 'cli', 'main.ts'));
  }
}
