/**
 * Where configuration lives: a project's `.baton/` (found upward from the working directory) over
 * the user's `${XDG_CONFIG_HOME:-~/.config}/baton/`. Each holds `config.yaml` and `ensembles/`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { didYouMean } from './errors';

/** The two configuration directories; either may be absent or not exist on disk. */
export interface ConfigDirs {
  /** The project's `.baton/` directory; it wins over `global`. */
  local?: string;
  /** The user's `baton/` directory under XDG_CONFIG_HOME or ~/.config. */
  global?: string;
}

/** An ensemble file found in a config directory. */
export interface EnsembleEntry {
  name: string;
  path: string;
  scope: 'local' | 'global';
}

/** `${XDG_CONFIG_HOME:-$HOME/.config}/baton`. */
export function globalConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'baton');
}

/** The nearest `.baton/` directory at or above `cwd`, if any. */
export function findLocalConfigDir(cwd: string = process.cwd()): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, '.baton');
    if (isDirectory(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The config directories for a working directory and environment.
 * @example findConfigDirs({ cwd: '/repo/src' }) // { local: '/repo/.baton', global: '/home/me/.config/baton' }
 */
export function findConfigDirs(opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ConfigDirs {
  const local = findLocalConfigDir(opts.cwd);
  return { ...(local && { local }), global: globalConfigDir(opts.env) };
}

/** Config directories in lookup order (local first), paired with their scope. */
export function orderedDirs(dirs: ConfigDirs): { dir: string; scope: 'local' | 'global' }[] {
  const out: { dir: string; scope: 'local' | 'global' }[] = [];
  if (dirs.local) out.push({ dir: dirs.local, scope: 'local' });
  if (dirs.global && dirs.global !== dirs.local) out.push({ dir: dirs.global, scope: 'global' });
  return out;
}

/** Every ensemble in the config directories; a local one hides a global one of the same name. */
export function listEnsembles(dirs: ConfigDirs): EnsembleEntry[] {
  const found = new Map<string, EnsembleEntry>();
  for (const { dir, scope } of orderedDirs(dirs)) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, 'ensembles'));
    } catch {
      continue; // a missing directory simply holds no ensembles
    }
    for (const file of names.sort()) {
      const m = /^(.+)\.ya?ml$/.exec(file);
      if (m && !found.has(m[1]!))
        found.set(m[1]!, { name: m[1]!, path: path.join(dir, 'ensembles', file), scope });
    }
  }
  return [...found.values()];
}

/**
 * The file for an ensemble: `nameOrPath` itself when it is a file, else `ensembles/<name>.yaml`
 * (or `.yml`) in the local config directory, then the global one. Throws an Error listing where
 * it looked when nothing is found.
 * @example findEnsemble('code-review', findConfigDirs()) // '/repo/.baton/ensembles/code-review.yaml'
 */
export function findEnsemble(nameOrPath: string, dirs: ConfigDirs): string {
  if (isFile(nameOrPath)) return path.resolve(nameOrPath);
  const looksLikePath =
    nameOrPath.includes('/') || nameOrPath.includes(path.sep) || /\.ya?ml$/.test(nameOrPath);
  if (looksLikePath) throw new Error(`Ensemble file not found: ${path.resolve(nameOrPath)}`);
  const searched: string[] = [];
  for (const { dir } of orderedDirs(dirs)) {
    for (const ext of ['.yaml', '.yml']) {
      const candidate = path.join(dir, 'ensembles', nameOrPath + ext);
      searched.push(candidate);
      if (isFile(candidate)) return candidate;
    }
  }
  const available = listEnsembles(dirs).map((e) => e.name);
  const close = didYouMean(nameOrPath, available);
  throw new Error(
    `No ensemble named '${nameOrPath}'.${close ? ` Did you mean '${close}'?` : ''}\n` +
      `Looked for:\n${searched.map((s) => `  ${s}`).join('\n') || '  (no config directories)'}\n` +
      (available.length
        ? `Available: ${available.join(', ')}`
        : 'No ensembles are defined in the config directories.') +
      `\nPass a path to a YAML file, or put the ensemble in .baton/ensembles/.`,
  );
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
