/** Load the tools a worker started by the CLI registers: `--tools <module>` or BATON_TOOLS. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ToolDefinition } from '../activities';
import { BadInputError } from './exit-codes';

const isTool = (t: unknown): t is ToolDefinition =>
  !!t &&
  typeof t === 'object' &&
  typeof (t as ToolDefinition).name === 'string' &&
  typeof (t as ToolDefinition).run === 'function';

/**
 * Let require() load TypeScript: tsx's CommonJS hook (a devDependency; loading it again once it
 * is registered, as when `baton` runs from source, does nothing).
 */
function registerTypeScript(path: string): void {
  try {
    require('tsx/cjs');
  } catch (err) {
    throw new BadInputError(
      `tools module ${path} is TypeScript, and tsx, which loads it, is not installed (${(err as Error).message.split('\n')[0]}): compile it to JavaScript, or install tsx (npm install tsx)`,
    );
  }
}

/**
 * Every tool a module exports: an exported `tools` array, a default-exported array, or each
 * exported tool made with createTool. TypeScript modules (.ts, .mts, .cts) load through tsx.
 */
export function loadToolsModule(path: string | undefined): ToolDefinition[] {
  if (!path) return [];
  const file = resolve(path);
  if (!existsSync(file)) throw new BadInputError(`tools module ${path} does not exist`);
  if (/\.[mc]?ts$/.test(file)) registerTypeScript(path);
  let mod: Record<string, unknown>;
  try {
    mod = require(file) as Record<string, unknown>;
  } catch (err) {
    throw new BadInputError(`cannot load tools module ${path}: ${(err as Error).message}`);
  }
  const list = Array.isArray(mod.tools)
    ? mod.tools
    : Array.isArray(mod.default)
      ? mod.default
      : Object.values(mod).filter(isTool);
  const tools = (list as unknown[]).filter(isTool);
  if (tools.length === 0) {
    throw new BadInputError(
      `tools module ${path} exports no tools: export createTool(...) results, or an array named tools`,
    );
  }
  return tools;
}
