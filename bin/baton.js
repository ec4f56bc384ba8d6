#!/usr/bin/env node
// Runs the compiled CLI; from a source checkout without a build, falls back to tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const compiled = join(__dirname, '..', 'dist', 'cli', 'main.js');
if (existsSync(compiled) && !process.env.BATON_FROM_SOURCE) {
  require(compiled);
} else {
  require('tsx/cjs');
  require(join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
