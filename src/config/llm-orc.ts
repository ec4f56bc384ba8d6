/**
 * llm-orc compatibility: convert llm-orc ensembles (`.llm-orc/ensembles/**.yaml`) and model
 * profiles (`model_profiles:` in `.llm-orc/config.yaml`) into Baton YAML, with a note for every
 * field: mapped as it was, changed in meaning or form (and why), or unsupported (and why).
 * `baton import llm-orc` writes the result; `baton run` runs an llm-orc file directly when nothing
 * in it (or in the ensembles it runs) is unsupported.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { EnsembleDefinition } from '../types';
import { EnsembleError, formatPath } from './errors';
import { loadEnsembleFile, type LoadOptions } from './load';
import { findProfile, providerSchema } from './profiles';

/** What happened to one field. */
export type NoteAction = 'mapped' | 'changed' | 'unsupported';

export interface ImportNote {
  /** The llm-orc file, as given (relative to the working directory when under it). */
  file: string;
  /** Field path in that file, e.g. `agents[2].depends_on[0].condition`. */
  path: string;
  action: NoteAction;
  message: string;
}

/** One converted ensemble. */
export interface ConvertedEnsemble {
  /** Absolute path of the llm-orc file. */
  source: string;
  name: string;
  /** Where it goes under `ensembles/` of the output, e.g. `testing/fan-out.yaml`. */
  relPath: string;
  /** The Baton ensemble (YAML-ready), or undefined when it cannot be converted at all. */
  baton?: Record<string, unknown>;
  /** Why it could not be converted at all. */
  refused?: string;
  /** Model profiles it names (directly, or through a child ensemble or a fallback). */
  profiles: string[];
  /** Names of ensembles it runs as `ensemble:` steps. */
  children: string[];
}

export interface LlmOrcImport {
  /** The `.llm-orc` directory (or the directory the ensembles were found in). */
  root: string;
  /** `.llm-orc/config.yaml`, when there is one. */
  configFile?: string;
  ensembles: ConvertedEnsemble[];
  /** Converted profiles, Baton snake_case (the `profiles:` of a Baton config.yaml). */
  profiles: Record<string, Record<string, unknown>>;
  /** Script agents' commands for the worker config: `scripts: { <name>: { argv } }`. */
  scripts: Record<string, { argv: string[] }>;
  notes: ImportNote[];
}

export interface ImportOptions {
  /** OLLAMA_HOST decides where ollama profiles point (default http://localhost:11434). */
  env?: NodeJS.ProcessEnv;
  /** Directory file names in notes are shown relative to (default: process.cwd()). */
  cwd?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Agent fields llm-orc knows and this converter handles (anything else is reported unsupported). */
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const RESERVED = ['input', 'item', 'loop', 'steps'];

/** True when a parsed YAML document looks like an llm-orc ensemble rather than a Baton one. */
export function looksLikeLlmOrc(value: unknown, file?: string): boolean {
  if (file && file.split(/[\\/]/).includes('.llm-orc')) return true;
  if (!isObj(value) || !Array.isArray(value.agents)) return false;
  if ('default_task' in value || 'task' in value) return true;
  // llm-orc agents have no `kind`; a Baton step does (a script step shares parameters, output_format, ...).
  if (value.agents.some((a) => isObj(a) && 'kind' in a)) return false;
  return value.agents.some(
    (a) =>
      isObj(a) &&
      ([
        'script',
        'parameters',
        'timeout_seconds',
        'output_format',
        'fallback_model_profile',
        'input_scope',
        'options',
      ].some((k) => k in a) ||
        (Array.isArray(a.depends_on) && a.depends_on.some(isObj)) ||
        (typeof a.when === 'string' && a.when.includes('${'))),
  );
}

/**
 * Convert `target`: an llm-orc ensemble file, an `ensembles/` directory, a `.llm-orc` directory, or
 * a project holding `.llm-orc/`. A single file brings the ensembles it runs (`ensemble:`) along.
 * Reads files only; nothing is written.
 */
export function importLlmOrc(target: string, opts: ImportOptions = {}): LlmOrcImport {
  const abs = path.resolve(target);
  const stat = statOf(abs);
  if (!stat) throw new Error(`llm-orc import: ${abs} does not exist`);
  const { root, ensemblesDir } = locate(abs, stat.isDirectory());
  const cwd = opts.cwd ?? process.cwd();
  const shown = (f: string) => {
    const rel = path.relative(cwd, f);
    return rel && !rel.startsWith('..') ? rel : f;
  };
  const notes: ImportNote[] = [];
  const result: LlmOrcImport = { root, ensembles: [], profiles: {}, scripts: {}, notes };

  // Profiles first: ensembles refer to them.
  const configFile = path.join(root, 'config.yaml');
  const llmProfiles: Record<string, Obj> = {};
  if (statOf(configFile)?.isFile()) {
    result.configFile = configFile;
    const config = readYaml(configFile);
    const mp = isObj(config) ? config.model_profiles : undefined;
    if (isObj(mp)) {
      for (const [name, p] of Object.entries(mp)) {
        const note = noter(notes, shown(configFile), ['model_profiles', name]);
        if (!isObj(p)) {
          note([], 'unsupported', 'not a mapping; left out');
          continue;
        }
        llmProfiles[name] = p;
        const converted = convertProfile(p, note, opts.env ?? process.env);
        if (converted) result.profiles[name] = converted;
      }
    }
    if (isObj(config)) {
      for (const key of Object.keys(config))
        if (key !== 'model_profiles')
          notes.push({
            file: shown(configFile),
            path: key,
            action: 'unsupported',
            message:
              "llm-orc's own settings (performance, project, serving...) have no Baton counterpart; left out (Baton's run options and worker settings cover timeouts and concurrency)",
          });
    }
  }

  // Every ensemble under the ensembles directory, indexed by name (children are found by name).
  const files = ensemblesDir ? yamlFiles(ensemblesDir) : [];
  const byName = new Map<string, string>();
  const raw = new Map<string, unknown>();
  for (const f of files) {
    let value: unknown;
    try {
      value = readYaml(f);
    } catch (e) {
      raw.set(f, e as Error);
      continue;
    }
    raw.set(f, value);
    if (isObj(value) && typeof value.name === 'string' && !byName.has(value.name)) byName.set(value.name, f);
  }
  let wanted: string[];
  if (stat.isDirectory()) wanted = files;
  else {
    if (!raw.has(abs)) raw.set(abs, readYaml(abs));
    // One file: it and the ensembles it runs, transitively.
    wanted = [];
    const queue = [abs];
    while (queue.length) {
      const f = queue.shift()!;
      if (wanted.includes(f)) continue;
      wanted.push(f);
      const v = raw.get(f);
      if (!isObj(v) || !Array.isArray(v.agents)) continue;
      for (const a of v.agents)
        if (isObj(a) && typeof a.ensemble === 'string' && byName.has(a.ensemble))
          queue.push(byName.get(a.ensemble)!);
    }
  }

  const base = ensemblesDir ?? path.dirname(abs);
  for (const f of wanted) {
    const value = raw.get(f);
    const relPath = path.relative(base, f).startsWith('..') ? path.basename(f) : path.relative(base, f);
    if (value instanceof Error) {
      notes.push({
        file: shown(f),
        path: '',
        action: 'unsupported',
        message: `cannot read the YAML: ${value.message}`,
      });
      result.ensembles.push({
        source: f,
        name: path.basename(f),
        relPath,
        refused: 'unreadable YAML',
        profiles: [],
        children: [],
      });
      continue;
    }
    const converted = convertEnsemble(value, {
      file: f,
      shown: shown(f),
      relPath,
      notes,
      llmProfiles,
      converted: result.profiles,
      byName,
      base,
      scripts: result.scripts,
      root,
    });
    result.ensembles.push(converted);
  }
  // Profiles reached through children and fallbacks.
  const direct = new Map(result.ensembles.map((e) => [e.name, e]));
  for (const e of result.ensembles) {
    const seen = new Set<string>();
    const visit = (en: ConvertedEnsemble) => {
      if (seen.has(en.name)) return;
      seen.add(en.name);
      for (const c of en.children) {
        const child = direct.get(c);
        if (child) visit(child);
      }
    };
    visit(e);
    const names = new Set<string>();
    for (const n of seen) for (const p of direct.get(n)!.profiles) names.add(p);
    for (const p of [...names]) {
      let fb = result.profiles[p]?.fallback_profiles as string[] | undefined;
      while (fb?.length && !names.has(fb[0]!)) {
        names.add(fb[0]!);
        fb = result.profiles[fb[0]!]?.fallback_profiles as string[] | undefined;
      }
    }
    e.profiles = [...names];
  }
  return result;
}

/** Find the `.llm-orc` root and its ensembles directory from what the user named. */
function locate(abs: string, isDir: boolean): { root: string; ensemblesDir?: string } {
  if (isDir) {
    if (statOf(path.join(abs, '.llm-orc'))?.isDirectory()) return locate(path.join(abs, '.llm-orc'), true);
    if (statOf(path.join(abs, 'ensembles'))?.isDirectory())
      return { root: abs, ensemblesDir: path.join(abs, 'ensembles') };
  }
  // A file, or a directory inside ensembles/: walk up to `ensembles` under a config root.
  let dir = isDir ? abs : path.dirname(abs);
  for (;;) {
    if (path.basename(dir) === 'ensembles') return { root: path.dirname(dir), ensemblesDir: dir };
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const here = isDir ? abs : path.dirname(abs);
  return { root: here, ensemblesDir: isDir ? abs : undefined };
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(entry.name)) out.push(p);
  }
  return out;
}

function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function readYaml(file: string): unknown {
  return parseYaml(fs.readFileSync(file, 'utf8'), { maxAliasCount: 100 });
}

type Note = (sub: (string | number)[], action: NoteAction, message: string) => void;

function noter(notes: ImportNote[], file: string, at: (string | number)[]): Note {
  return (sub, action, message) => notes.push({ file, path: formatPath([...at, ...sub]), action, message });
}

// ---------------------------------------------------------------------------------------------
// Profiles and providers
// ---------------------------------------------------------------------------------------------

/** llm-orc's provider (and base_url) as a Baton provider, or why it cannot be one. */
function mapProvider(
  provider: unknown,
  baseUrl: unknown,
  env: NodeJS.ProcessEnv,
): { provider: string; base_url?: string; how: NoteAction; why: string } | { unsupported: string } {
  if (typeof provider !== 'string')
    return { unsupported: 'no provider; llm-orc then guesses Ollama, Baton needs it named' };
  if (provider === 'ollama') {
    let host = (env.OLLAMA_HOST ?? 'http://localhost:11434').trim().replace(/\/+$/, '');
    if (!/^https?:\/\//.test(host)) host = `http://${host}`;
    return {
      provider: 'openai-compatible',
      base_url: `${host}/v1`,
      how: 'changed',
      why: `Ollama through its OpenAI-compatible endpoint ${host}/v1 (OLLAMA_HOST when set at import)`,
    };
  }
  if (provider === 'openai-compatible' || provider.startsWith('openai-compatible/')) {
    if (typeof baseUrl === 'string')
      return {
        provider: 'openai-compatible',
        base_url: baseUrl,
        how: 'changed',
        why: 'an OpenAI-compatible endpoint without a key; add api_key_env if it needs one',
      };
    return {
      provider: 'openai',
      how: 'changed',
      why: 'OpenAI, key from OPENAI_API_KEY in the worker environment',
    };
  }
  if (provider === 'openai')
    return { provider: 'openai', how: 'changed', why: 'key from OPENAI_API_KEY in the worker environment' };
  if (provider === 'anthropic-api' || provider === 'anthropic')
    return {
      provider: 'anthropic',
      how: 'changed',
      why: "key from ANTHROPIC_API_KEY in the worker environment, not llm-orc's credential store",
    };
  if (provider === 'google-gemini' || provider === 'google' || provider === 'gemini') {
    if (providerSchema.safeParse('gemini').success)
      return { provider: 'gemini', how: 'changed', why: 'Gemini, key from the worker environment' };
    return { unsupported: `provider '${provider}': this Baton has no Gemini provider` };
  }
  if (provider === 'anthropic-claude-pro-max' || provider === 'claude-cli')
    return {
      unsupported: `provider '${provider}' signs in with a Claude subscription (OAuth or the claude CLI); Baton calls APIs with keys from the worker environment: use 'anthropic-api'`,
    };
  return { unsupported: `provider '${provider}' has no Baton counterpart` };
}

/** An llm-orc model profile as a Baton profile (snake_case), or undefined when it cannot be one. */
function convertProfile(p: Obj, note: Note, env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const prov = mapProvider(p.provider, p.base_url, env);
  if ('unsupported' in prov) {
    note(['provider'], 'unsupported', `${prov.unsupported}; the profile is left out`);
    return undefined;
  }
  out.provider = prov.provider;
  note(['provider'], prov.how, `provider: ${prov.provider} (${prov.why})`);
  if (typeof p.model !== 'string') {
    note(['model'], 'unsupported', 'no model; the profile is left out');
    return undefined;
  }
  out.model = p.model;
  note(['model'], 'mapped', 'model');
  if (prov.base_url) out.base_url = prov.base_url;
  if ('base_url' in p && prov.provider !== 'openai-compatible')
    note(['base_url'], 'unsupported', 'base_url only applies to openai-compatible; left out');
  else if ('base_url' in p) note(['base_url'], 'mapped', 'base_url');
  for (const [key, value] of Object.entries(p)) {
    const at = [key];
    switch (key) {
      case 'provider':
      case 'model':
      case 'base_url':
        break;
      case 'system_prompt':
        if (typeof value === 'string') {
          out.system_prompt = value;
          note(at, 'mapped', 'system_prompt: used by every agent of this profile that sets none');
        } else note(at, 'unsupported', 'not text; left out');
        break;
      case 'timeout_seconds':
        if (typeof value === 'number' && value > 0) {
          out.timeout = `${value}s`;
          note(
            at,
            'changed',
            `timeout: '${value}s', the time one model call may take (each retry gets it again)`,
          );
        } else note(at, 'unsupported', 'not a positive number; left out');
        break;
      case 'temperature':
      case 'max_tokens':
        out[key] = value;
        note(at, 'mapped', key);
        break;
      case 'cost_per_token':
        if (typeof value === 'number' && value >= 0) {
          const perM = Math.round(value * 1e6 * 1e6) / 1e6;
          out.pricing = { input_per_mtok: perM, output_per_mtok: perM };
          note(
            at,
            'changed',
            `pricing: ${perM} USD per million input and output tokens (Baton prices per million, input and output apart)`,
          );
        } else note(at, 'unsupported', 'not a number; left out');
        break;
      case 'fallback_model_profile':
        if (typeof value === 'string') {
          out.fallback_profiles = [value];
          note(at, 'changed', `fallback_profiles: [${value}]`);
        } else note(at, 'unsupported', 'not a profile name; left out');
        break;
      default:
        note(at, 'unsupported', `'${key}' has no Baton counterpart; left out`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ensembles
// ---------------------------------------------------------------------------------------------

interface EnsembleContext {
  file: string;
  shown: string;
  relPath: string;
  notes: ImportNote[];
  llmProfiles: Record<string, Obj>;
  converted: Record<string, Record<string, unknown>>;
  byName: Map<string, string>;
  base: string;
  scripts: Record<string, { argv: string[] }>;
  root: string;
}

/** The composition llm-orc gives an LLM agent with dependencies, as a Baton template. */
function dependencyPrompt(deps: string[]): string {
  return [
    'Please respond to the following input, taking into account the results from the previous agents in the dependency chain.',
    '',
    'Original Input:',
    '{{input}}',
    '',
    'Previous Agent Results (for your reference):',
    deps.map((d) => `Agent ${d}:\n{{steps.${d}}}`).join('\n\n'),
    '',
    'Please provide your own analysis, building upon (but not simply repeating) the previous results.',
  ].join('\n');
}

const FAN_OUT_PROMPT =
  'Processing chunk {{chunk_index}} (counting from 0) of {{total_chunks}}.\n\nOriginal task: {{input}}\n\nChunk content:\n{{item}}';

/** llm-orc's predicate `${ref}` or `${ref} == literal` (also `!=`) as a Baton condition object. */
export function convertPredicate(expr: string): Record<string, unknown> | string {
  const m = /^\s*\$\{\s*([A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\s*(?:(==|!=)\s*(.+?))?\s*$/.exec(
    expr,
  );
  if (!m) return `condition '${expr}' is not of the form \${agent.field} or \${agent.field} == value`;
  const [, ref, op, lit] = m;
  if (!op) return { ref, truthy: true };
  let value: string | number | boolean = lit!;
  if (lit === 'true') value = true;
  else if (lit === 'false') value = false;
  else if (/^(["']).*\1$/.test(lit!)) value = lit!.slice(1, -1);
  else if (/^-?\d+(\.\d+)?$/.test(lit!)) value = Number(lit);
  return op === '==' ? { ref, equals: value } : { ref, not_equals: value };
}

function scriptCommand(script: string): string {
  const name = script
    .replace(/^(\.\/)?(\.llm-orc\/)?(scripts\/)?/, '')
    .replace(/\.[A-Za-z0-9]+$/, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name || 'script';
}

function scriptArgv(script: string, root: string): string[] {
  const file = path.isAbsolute(script) ? script : path.join(root, script);
  if (/\.py$/.test(script)) return ['python3', file];
  if (/\.sh$/.test(script)) return ['sh', file];
  if (/\.(js|mjs|cjs)$/.test(script)) return ['node', file];
  return [file];
}

function convertEnsemble(value: unknown, ctx: EnsembleContext): ConvertedEnsemble {
  const at = (p: (string | number)[], action: NoteAction, message: string) =>
    ctx.notes.push({ file: ctx.shown, path: formatPath(p), action, message });
  const fallbackName = path.basename(ctx.file).replace(/\.ya?ml$/, '');
  const refuse = (why: string, name = fallbackName): ConvertedEnsemble => ({
    source: ctx.file,
    name,
    relPath: ctx.relPath,
    refused: why,
    profiles: [],
    children: [],
  });
  if (!isObj(value)) {
    at([], 'unsupported', 'not an llm-orc ensemble (expected a mapping with name and agents)');
    return refuse('not an ensemble');
  }
  const name = typeof value.name === 'string' ? value.name : fallbackName;
  if (!Array.isArray(value.agents) || value.agents.length === 0) {
    at(['agents'], 'unsupported', 'no agents list; nothing to convert');
    return refuse('no agents', name);
  }
  const out: Record<string, unknown> = { name };
  const profiles = new Set<string>();
  const children: string[] = [];
  let fatal: string | undefined;
  const fail = (p: (string | number)[], why: string) => {
    at(p, 'unsupported', `${why}; the ensemble is not converted`);
    fatal ??= `${formatPath(p)}: ${why}`;
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name))
    fail(['name'], `'${name}' is not a valid Baton ensemble name`);
  else at(['name'], 'mapped', 'name');

  for (const [key, v] of Object.entries(value)) {
    switch (key) {
      case 'name':
      case 'agents':
        break;
      case 'description':
        if (typeof v === 'string') {
          out.description = v.trim();
          at([key], 'mapped', 'description');
        }
        break;
      case 'default_task':
      case 'task':
        if (typeof v === 'string') {
          out.default_input = v.trim();
          at([key], 'changed', 'default_input: the run input when a run is started with an empty one');
        } else at([key], 'unsupported', 'not text; left out');
        break;
      default:
        at([key], 'unsupported', `ensemble field '${key}' has no Baton counterpart; left out`);
    }
  }

  const agentNames = new Set(
    value.agents.filter(isObj).map((a) => (typeof a.name === 'string' ? a.name : '')),
  );
  const steps: Record<string, unknown>[] = [];
  value.agents.forEach((a, i) => {
    const p = (...rest: (string | number)[]) => ['agents', i, ...rest];
    if (!isObj(a)) return fail(p(), 'not a mapping');
    const step: Record<string, unknown> = {};
    const stepName = a.name;
    if (typeof stepName !== 'string' || !STEP_NAME.test(stepName) || RESERVED.includes(stepName))
      return fail(
        p('name'),
        `agent name ${JSON.stringify(stepName)} is not a Baton step name (a letter, then letters, digits, - and _; not input, item, loop or steps)`,
      );
    step.name = stepName;
    const kind =
      'script' in a
        ? 'script'
        : 'ensemble' in a
          ? 'ensemble'
          : 'loop' in a
            ? 'loop'
            : 'dispatch' in a
              ? 'dispatch'
              : 'agent';
    if (kind === 'loop')
      return fail(
        p('loop'),
        "a loop over a body ensemble; Baton's loops repeat steps of the same ensemble, convert it by hand",
      );
    if (kind === 'dispatch')
      return fail(
        p('dispatch'),
        'dynamic dispatch picks the ensemble at run time; Baton resolves every ensemble before a run starts',
      );

    // depends_on: names, or { agent_name, condition } mappings.
    const deps: string[] = [];
    const conditions: [(string | number)[], Record<string, unknown>][] = [];
    if (a.depends_on !== undefined) {
      if (!Array.isArray(a.depends_on)) return fail(p('depends_on'), 'not a list');
      a.depends_on.forEach((d, j) => {
        if (typeof d === 'string') {
          deps.push(d);
          return;
        }
        if (!isObj(d) || typeof d.agent_name !== 'string')
          return fail(p('depends_on', j), 'expected a name or { agent_name, condition }');
        deps.push(d.agent_name);
        for (const k of Object.keys(d)) {
          if (k === 'agent_name') continue;
          if (k === 'condition' && typeof d.condition === 'string') {
            const c = convertPredicate(d.condition);
            if (typeof c === 'string') return fail(p('depends_on', j, 'condition'), c);
            conditions.push([p('depends_on', j, 'condition'), c]);
          } else fail(p('depends_on', j, k), `'${k}' on a dependency has no Baton counterpart`);
        }
      });
      const unknown = deps.filter((d) => !agentNames.has(d));
      if (unknown.length) fail(p('depends_on'), `unknown agent(s) ${unknown.join(', ')}`);
      step.depends_on = deps;
      at(
        p('depends_on'),
        a.depends_on.some(isObj) ? 'changed' : 'mapped',
        a.depends_on.some(isObj)
          ? "depends_on: [names]; each condition becomes the step's when:"
          : 'depends_on',
      );
    }
    if (typeof a.when === 'string') {
      const c = convertPredicate(a.when);
      if (typeof c === 'string') return fail(p('when'), c);
      conditions.push([p('when'), c]);
    } else if (a.when !== undefined) return fail(p('when'), 'not a predicate string');
    if (conditions.length > 1)
      return fail(
        conditions[1]![0],
        'a second condition on one agent; a Baton step takes one when: condition',
      );
    if (conditions.length === 1) {
      const [cp, c] = conditions[0]!;
      const head = String(c.ref).split('.')[0]!;
      if (!deps.includes(head))
        return fail(cp, `the condition reads '${head}', which the agent does not depend on`);
      step.when = c;
      at(
        cp,
        'changed',
        `when: ${JSON.stringify(c)}: the step runs only when it holds, else it is skipped (values compared as text, ignoring case)`,
      );
    }
    if (a.fan_out !== undefined && a.fan_out !== false) {
      if (a.fan_out !== true) return fail(p('fan_out'), 'expected true');
      if (deps.length !== 1)
        return fail(
          p('fan_out'),
          `fan_out splits the output of one upstream agent; this one depends on ${deps.length}`,
        );
      step.fan_out = true;
      at(
        p('fan_out'),
        'mapped',
        'fan_out: one instance per item of the upstream output (a JSON array or one item a line)',
      );
    }
    if (a.input_key !== undefined) {
      if (typeof a.input_key !== 'string' || deps.length === 0)
        return fail(p('input_key'), 'input_key needs a key name and a depends_on');
      step.input_key = a.input_key;
      at(
        p('input_key'),
        'mapped',
        `input_key: the step reads key '${a.input_key}' of ${deps[0]}'s JSON output`,
      );
    }

    const handled = new Set(['name', 'depends_on', 'when', 'fan_out', 'input_key']);
    const take = (k: string) => handled.add(k);

    if (kind === 'script') {
      take('script');
      if (typeof a.script !== 'string') return fail(p('script'), 'expected a script path');
      const command = scriptCommand(a.script);
      step.kind = 'script';
      step.command = command;
      ctx.scripts[command] ??= { argv: scriptArgv(a.script, ctx.root) };
      at(
        p('script'),
        'changed',
        `kind: script, command: ${command}; a command runs only when the worker config allows it (scripts: { ${command}: { argv: [...] } }, written to worker-scripts.yaml). It reads Baton's step input on stdin, not llm-orc's JSON envelope`,
      );
      if (a.parameters !== undefined) {
        take('parameters');
        if (!isObj(a.parameters)) return fail(p('parameters'), 'expected a mapping');
        step.parameters = a.parameters;
        at(p('parameters'), 'mapped', 'parameters: passed to the script as JSON');
      }
      if (a.timeout_seconds !== undefined) {
        take('timeout_seconds');
        if (typeof a.timeout_seconds !== 'number' || a.timeout_seconds <= 0)
          return fail(p('timeout_seconds'), 'expected a positive number');
        step.timeout_seconds = a.timeout_seconds;
        at(p('timeout_seconds'), 'mapped', 'timeout_seconds');
      }
    } else if (kind === 'ensemble') {
      take('ensemble');
      if (typeof a.ensemble !== 'string') return fail(p('ensemble'), 'expected an ensemble name');
      const childFile = ctx.byName.get(a.ensemble);
      if (!childFile) return fail(p('ensemble'), `no ensemble named '${a.ensemble}' under ${ctx.base}`);
      children.push(a.ensemble);
      step.kind = 'ensemble';
      const childRel = path.relative(path.dirname(path.join(ctx.base, ctx.relPath)), childFile);
      step.ensemble = childRel.replace(/\\/g, '/');
      if (!a.fan_out)
        step.prompt = deps.length
          ? a.input_key
            ? `{{steps.${deps[0]}}}`
            : dependencyPrompt(deps)
          : '{{input}}';
      at(
        p('ensemble'),
        'changed',
        `kind: ensemble, ensemble: ${step.ensemble}; its steps run inside this run (keys ${stepName}/<step>), on ${a.fan_out ? 'each item' : "this step's input"}, under this run's budget`,
      );
    } else {
      // An LLM agent.
      if (a.model_profile !== undefined) {
        take('model_profile');
        if (typeof a.model_profile !== 'string') return fail(p('model_profile'), 'expected a profile name');
        step.model_profile = a.model_profile;
        profiles.add(a.model_profile);
        if (!ctx.llmProfiles[a.model_profile])
          at(
            p('model_profile'),
            'changed',
            `profile '${a.model_profile}' is not in .llm-orc/config.yaml: define it in Baton's config.yaml (or the global llm-orc profiles are needed)`,
          );
        else if (!ctx.converted[a.model_profile])
          at(
            p('model_profile'),
            'unsupported',
            `profile '${a.model_profile}' could not be converted (see model_profiles.${a.model_profile} in config.yaml); define a Baton profile of that name`,
          );
        else at(p('model_profile'), 'mapped', 'model_profile');
      } else if (a.model !== undefined || a.provider !== undefined) {
        take('model');
        take('provider');
        take('base_url');
        const prov = mapProvider(a.provider, a.base_url, {});
        if ('unsupported' in prov) return fail(p('provider'), prov.unsupported);
        if (typeof a.model !== 'string') return fail(p('model'), 'expected a model name');
        step.provider = prov.provider;
        step.model = a.model;
        if (prov.base_url) step.base_url = prov.base_url;
        at(p('provider'), prov.how, `provider: ${prov.provider} (${prov.why})`);
      } else return fail(p(), 'an LLM agent needs model_profile, or model and provider');
      for (const k of ['system_prompt', 'temperature', 'max_tokens'] as const) {
        if (a[k] === undefined) continue;
        take(k);
        step[k] = a[k];
        at(p(k), 'mapped', k);
      }
      if (a.timeout_seconds !== undefined) {
        take('timeout_seconds');
        if (typeof a.timeout_seconds !== 'number' || a.timeout_seconds <= 0)
          return fail(p('timeout_seconds'), 'expected a positive number');
        step.timeout = `${a.timeout_seconds}s`;
        at(p('timeout_seconds'), 'changed', `timeout: '${a.timeout_seconds}s', per model call attempt`);
      }
      if (a.output_format !== undefined) {
        take('output_format');
        if (a.output_format === 'json') {
          step.output_schema = { type: 'object' };
          at(
            p('output_format'),
            'changed',
            'output_schema: { type: object }: the provider is asked for a JSON object, and a reply that is not one is asked for again',
          );
        } else if (a.output_format === 'text')
          at(p('output_format'), 'mapped', "text is Baton's default; nothing to write");
        else
          return fail(
            p('output_format'),
            `output_format ${JSON.stringify(a.output_format)} (expected json or text)`,
          );
      }
      if (a.fallback_model_profile !== undefined) {
        take('fallback_model_profile');
        if (typeof a.fallback_model_profile !== 'string')
          return fail(p('fallback_model_profile'), 'expected a profile name');
        step.fallback_profiles = [a.fallback_model_profile];
        profiles.add(a.fallback_model_profile);
        at(p('fallback_model_profile'), 'changed', `fallback_profiles: [${a.fallback_model_profile}]`);
      }
      if (a.input_scope !== undefined) {
        take('input_scope');
        if (a.input_scope !== 'dependencies') return fail(p('input_scope'), "expected 'dependencies'");
        if (deps.length) step.prompt = deps.map((d) => `{{steps.${d}}}`).join('\n\n');
        at(p('input_scope'), 'changed', "prompt: the dependencies' outputs only, without the run input");
      } else if (a.fan_out === true) {
        step.prompt = FAN_OUT_PROMPT;
        at(p(), 'changed', "prompt: llm-orc's fan-out instance input (chunk number, task and item)");
      } else if (deps.length) {
        step.prompt = dependencyPrompt(deps);
        at(p(), 'changed', "prompt: llm-orc's composition of the run input and the dependencies' results");
      }
    }
    if (a.parameters !== undefined && kind !== 'script') {
      take('parameters');
      at(p('parameters'), 'unsupported', 'parameters only apply to script agents; left out');
    }
    for (const k of Object.keys(a))
      if (
        !handled.has(k) &&
        !(kind === 'agent' && ['system_prompt', 'temperature', 'max_tokens'].includes(k))
      )
        at(
          p(k),
          'unsupported',
          `'${k}' has no Baton counterpart on ${kind === 'agent' ? 'an LLM' : `a ${kind}`} agent; left out`,
        );
    steps.push(kindFirst(step));
  });
  if (fatal) return refuse(fatal, name);
  out.agents = steps;
  return { source: ctx.file, name, relPath: ctx.relPath, baton: out, profiles: [...profiles], children };
}

/** `name` then `kind` first, for readable YAML. */
function kindFirst(step: Record<string, unknown>): Record<string, unknown> {
  const { name, kind, ...rest } = step;
  return { name, ...(kind !== undefined && { kind }), ...rest };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** The Baton YAML text of one converted ensemble, optionally with its profiles inlined. */
export function ensembleYaml(
  e: ConvertedEnsemble,
  inlineProfiles?: Record<string, Record<string, unknown>>,
): string {
  const doc: Record<string, unknown> = { ...e.baton };
  if (inlineProfiles) {
    const used = Object.fromEntries(
      e.profiles.filter((p) => inlineProfiles[p]).map((p) => [p, inlineProfiles[p]]),
    );
    if (Object.keys(used).length) {
      const { agents, ...head } = doc;
      return `# Converted from ${e.source} by baton import llm-orc\n${stringify({ ...head, profiles: used, agents }, { lineWidth: 0 })}`;
    }
  }
  return `# Converted from ${e.source} by baton import llm-orc\n${stringify(doc, { lineWidth: 0 })}`;
}

export interface WrittenImport {
  files: string[];
}

/**
 * Write the import to `outDir` as a Baton config directory: `config.yaml` (profiles),
 * `ensembles/<same layout>.yaml`, and `worker-scripts.yaml` (the `scripts:` a worker config needs
 * for the script agents). Ensembles that could not be converted are not written.
 */
export function writeImport(imp: LlmOrcImport, outDir: string): WrittenImport {
  const files: string[] = [];
  const write = (rel: string, text: string) => {
    const f = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
    files.push(f);
  };
  if (Object.keys(imp.profiles).length)
    write(
      'config.yaml',
      `# Profiles converted from ${imp.configFile ?? imp.root} by baton import llm-orc\n${stringify({ profiles: imp.profiles }, { lineWidth: 0 })}`,
    );
  for (const e of imp.ensembles) if (e.baton) write(path.join('ensembles', e.relPath), ensembleYaml(e));
  if (Object.keys(imp.scripts).length)
    write(
      'worker-scripts.yaml',
      `# The script agents' commands; merge into the file given to \`baton worker --config\`.\n${stringify({ scripts: imp.scripts }, { lineWidth: 0 })}`,
    );
  return { files };
}

/** The report as readable lines: per file, every note, then a count. */
export function formatReport(imp: LlmOrcImport, written?: WrittenImport): string {
  const lines: string[] = [];
  let file: string | undefined;
  for (const n of imp.notes) {
    if (n.file !== file) {
      file = n.file;
      lines.push(file);
    }
    lines.push(`  ${n.action.padEnd(11)} ${(n.path || '(file)').padEnd(36)} ${n.message}`);
  }
  const count = (a: NoteAction) => imp.notes.filter((n) => n.action === a).length;
  const refused = imp.ensembles.filter((e) => !e.baton);
  lines.push(
    `${imp.ensembles.length - refused.length} of ${imp.ensembles.length} ensembles converted, ${Object.keys(imp.profiles).length} profiles; fields: ${count('mapped')} mapped, ${count('changed')} changed, ${count('unsupported')} unsupported`,
  );
  for (const e of refused) lines.push(`not converted: ${e.source}: ${e.refused}`);
  for (const f of written?.files ?? []) lines.push(`wrote ${f}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Running an llm-orc file directly
// ---------------------------------------------------------------------------------------------

/** Whether the file at `file` is an llm-orc ensemble (by place or by shape). */
export function isLlmOrcFile(file: string): boolean {
  if (file.split(/[\\/]/).includes('.llm-orc')) return true;
  try {
    return looksLikeLlmOrc(readYaml(file), file);
  } catch {
    return false;
  }
}

/**
 * Convert one llm-orc ensemble file (and the ensembles it runs) and load it as a Baton definition.
 * Refuses, before anything runs, when a field it or its profiles use cannot be mapped: the error
 * names every such file and field. Returns the import report too (`baton run -v` prints it).
 */
export function loadLlmOrcEnsemble(
  file: string,
  opts: ImportOptions & { load?: Omit<LoadOptions, 'parents'> } = {},
): { definition: EnsembleDefinition; report: string; imported: LlmOrcImport } {
  const imp = importLlmOrc(file, opts);
  const involvedFiles = new Set(imp.ensembles.map((e) => e.source));
  const top = imp.ensembles.find((e) => e.source === path.resolve(file)) ?? imp.ensembles[0]!;
  const usedProfiles = new Set(top.profiles);
  const cwd = opts.cwd ?? process.cwd();
  const shownToAbs = (f: string) => path.resolve(cwd, f);
  const blocking = imp.notes.filter((n) => {
    if (n.action !== 'unsupported') return false;
    const abs = shownToAbs(n.file);
    if (involvedFiles.has(abs)) return true;
    // In config.yaml: only the profiles this run uses.
    const m = /^model_profiles\.([^.[]+)/.exec(n.path) ?? /^model_profiles\["([^"]+)"\]/.exec(n.path);
    return m !== null && usedProfiles.has(m[1]!);
  });
  const missing = [...usedProfiles].filter((p) => !imp.profiles[p] && !findProfile(p, {}));
  const report = formatReport(imp);
  if (blocking.length || imp.ensembles.some((e) => !e.baton)) {
    const lines = blocking.map((n) => `  ${n.file}  ${n.path || '(file)'}  ${n.message}`);
    throw new EnsembleError(
      blocking.map((n) => ({ file: n.file, path: n.path, message: `cannot be mapped: ${n.message}` })),
      `This llm-orc ensemble cannot run as it is${
        lines.length
          ? ''
          : ` (${imp.ensembles
              .filter((e) => !e.baton)
              .map((e) => `${e.source}: ${e.refused}`)
              .join('; ')})`
      }. ` +
        'Convert it with `baton import llm-orc <file> --out <dir>`, edit what the report lists, and run the converted file; nothing was started.',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-llm-orc-'));
  try {
    const inline = Object.fromEntries(Object.entries(imp.profiles));
    for (const e of imp.ensembles) {
      const f = path.join(dir, e.relPath);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, ensembleYaml(e, inline));
    }
    try {
      const definition = loadEnsembleFile(path.join(dir, top.relPath), opts.load ?? {});
      return { definition, report, imported: imp };
    } catch (e) {
      if (!(e instanceof EnsembleError)) throw e;
      // Name the user's files, not the temporary copies.
      const back = (f: string) => {
        const rel = path.relative(dir, f);
        const src = imp.ensembles.find((x) => x.relPath === rel)?.source;
        return src ? `${src} (converted)` : f;
      };
      const missingHint = missing.length
        ? ` Profiles not in .llm-orc/config.yaml: ${missing.join(', ')}; define them in Baton's config.yaml.`
        : '';
      throw new EnsembleError(
        e.issues.map((i) => ({ ...i, file: back(i.file) })),
        `The llm-orc ensemble converted, but Baton refuses the result.${missingHint} Nothing was started.`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
