#!/usr/bin/env node
// Runs the compiled CLI; from a source checkout without a build, falls back to tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

// `baton worker` runs in a process started with a heap limit and two malloc arenas (bin/worker-memory.js).
const args = process.argv.slice(2);
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
