/**
 * Read, parse, validate and resolve ensemble and config files. A file goes through four gates,
 * and the first gate that finds problems refuses it with all of that gate's problems at once:
 * YAML syntax, the zod schema, static checks (checks.ts), then resolution into the plain-JSON
 * EnsembleDefinition a run carries.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import type {
  AgentStep,
  ApprovalStep,
  EnsembleDefinition,
  EnsembleStep,
  LoopStep,
  ModelProfile,
  ScriptStep,
  StepDefinition,
  StepRetry,
  ToolRef,
} from '../types';
import { checkEnsemble, type CheckIssue } from './checks';
import { checkDefinition } from './definition-schema';
import { findConfigDirs, findEnsemble, orderedDirs, type ConfigDirs } from './config-dirs';
import {
  configSchema,
  ensembleSchema,
  knownFieldsAt,
  type AgentConfig,
  type ApprovalConfig,
  type BodyStepConfig,
  type EnsembleConfig,
  type EnsembleStepConfig,
  type LoopConfig,
  type ScriptConfig as ScriptStepConfig,
  type StepConfig,
} from './ensemble-schema';
import { didYouMean, EnsembleError, formatPath, type EnsembleIssue } from './errors';
import { findProfile, profileNames, toModelProfile } from './profiles';

/** Profiles and defaults from `config.yaml` files, local over global. */
export interface BatonConfig {
  profiles: Record<string, ModelProfile>;
  defaultProfile?: string;
  /** The config files that were read, global first. */
  files: string[];
}

export interface LoadOptions {
  /** Where `config.yaml` is read from; default: found from `cwd` and `env`. */
  configDirs?: ConfigDirs;
  /** Environment for locating the global config directory (XDG_CONFIG_HOME, HOME). */
  env?: NodeJS.ProcessEnv;
  /** Directory the local `.baton/` is searched upward from; default: process.cwd(). */
  cwd?: string;
  /** An already loaded config; when given, no config file is read. */
  config?: BatonConfig;
  /** Tool names the worker registers; when given, an agent naming another tool is refused. */
  knownTools?: readonly string[];
  /** Ensemble files being loaded around this one (a child ensemble step's parents), to refuse cycles. */
  parents?: readonly string[];
}

const SYNTAX_HINT =
  'Fix the YAML syntax at the lines above (indentation, quotes, brackets) and load the file again.';

/**
 * Load an ensemble file into the definition a run carries; throws EnsembleError listing every
 * problem, or a plain Error when the file cannot be read.
 * @example const def = loadEnsembleFile('.baton/ensembles/code-review.yaml', { knownTools: ['search'] });
 */
export function loadEnsembleFile(file: string, opts: LoadOptions = {}): EnsembleDefinition {
  return loadEnsembleText(readText(file, 'ensemble'), file, opts);
}

/** Like loadEnsembleFile, for YAML text already in memory; `fileName` is what messages call it. */
export function loadEnsembleText(text: string, fileName: string, opts: LoadOptions = {}): EnsembleDefinition {
  const config =
    opts.config ?? loadConfig(opts.configDirs ?? findConfigDirs({ cwd: opts.cwd, env: opts.env }));
  return guard(fileName, () => {
    const yaml = parseYaml(text, fileName);
    const result = ensembleSchema.safeParse(yaml.value);
    if (!result.success) throw yaml.refuse(schemaIssues(result.error.issues, yaml.value, 'ensemble'));
    const parsed = result.data;
    const profiles = { ...config.profiles, ...localProfiles(parsed) };
    const problems = checkEnsemble(parsed, {
      profiles,
      ...(config.defaultProfile !== undefined && { configDefaultProfile: config.defaultProfile }),
      ...(opts.knownTools && { knownTools: opts.knownTools }),
    });
    if (problems.length) throw yaml.refuse(problems);
    const children = loadChildEnsembles(parsed, fileName, { ...opts, config }, yaml);
    const def = resolveEnsemble(parsed, profiles, config.defaultProfile, children);
    // What leaves here is held to the schema every run is checked with (definition-schema.ts).
    const resolved = checkDefinition(def);
    if (resolved.length)
      throw new EnsembleError(
        resolved.map((i) => ({ file: fileName, path: i.path, message: `resolved definition: ${i.message}` })),
      );
    return def;
  });
}

/**
 * The ensembles that `ensemble:` steps name, loaded (with this file's config) and resolved: a
 * name is looked up next to this file (`<name>.yaml` / `.yml`), then in the config directories'
 * `ensembles/`. A missing one, or one that leads back to a file being loaded, is refused here.
 */
function loadChildEnsembles(
  parsed: EnsembleConfig,
  fileName: string,
  opts: LoadOptions,
  yaml: ParsedYaml,
): Map<string, EnsembleDefinition> {
  const key = parsed.agents ? 'agents' : 'steps';
  const steps = (parsed.agents ?? parsed.steps)!;
  const out = new Map<string, EnsembleDefinition>();
  const issues: CheckIssue[] = [];
  const self = path.resolve(fileName);
  const parents = [...(opts.parents ?? []), self];
  steps.forEach((s, i) => {
    if (s.kind !== 'ensemble') return;
    const where = [key, i, 'ensemble'];
    const here = path.dirname(self);
    const candidates = /\.ya?ml$/.test(s.ensemble)
      ? [path.resolve(here, s.ensemble)]
      : [path.resolve(here, `${s.ensemble}.yaml`), path.resolve(here, `${s.ensemble}.yml`)];
    let file = candidates.find(isFile);
    if (!file && !/[\\/]/.test(s.ensemble)) {
      try {
        file = findEnsemble(s.ensemble, opts.configDirs ?? findConfigDirs({ cwd: opts.cwd, env: opts.env }));
      } catch {
        // reported below with what was tried next to the file
      }
    }
    if (!file) {
      issues.push({
        path: where,
        message: `no ensemble '${s.ensemble}': looked for ${candidates.join(', ')} and in the ensembles/ of .baton and ~/.config/baton`,
      });
      return;
    }
    if (parents.includes(file)) {
      issues.push({
        path: where,
        message: `ensemble '${s.ensemble}' (${file}) leads back to itself: ${[...parents, file].map((f) => path.basename(f)).join(' -> ')}`,
      });
      return;
    }
    out.set(s.name, loadEnsembleFile(file, { ...opts, parents }));
  });
  if (issues.length) throw yaml.refuse(issues);
  return out;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Read `config.yaml` from the global then the local config directory; local wins per profile
 * name and for `default_profile`. Missing files are fine; an invalid one throws EnsembleError.
 */
export function loadConfig(dirs: ConfigDirs): BatonConfig {
  const config: BatonConfig = { profiles: {}, files: [] };
  const issues: EnsembleIssue[] = [];
  let defaultFrom: ParsedYaml | undefined;
  for (const { dir } of orderedDirs(dirs).reverse()) {
    const file = path.join(dir, 'config.yaml');
    if (!fs.existsSync(file)) continue;
    const text = readText(file, 'config');
    try {
      guard(file, () => {
        const yaml = parseYaml(text, file);
        const result = configSchema.safeParse(yaml.value ?? {}); // an empty config file is a valid one
        if (!result.success) throw yaml.refuse(schemaIssues(result.error.issues, yaml.value, 'config'));
        for (const [name, p] of Object.entries(result.data.profiles ?? {}))
          config.profiles[name] = toModelProfile(name, p);
        if (result.data.default_profile !== undefined) {
          config.defaultProfile = result.data.default_profile;
          defaultFrom = yaml;
        }
        config.files.push(file);
      });
    } catch (e) {
      if (!(e instanceof EnsembleError)) throw e;
      issues.push(...e.issues);
    }
  }
  if (
    defaultFrom &&
    config.defaultProfile !== undefined &&
    !findProfile(config.defaultProfile, config.profiles)
  ) {
    const close = didYouMean(config.defaultProfile, profileNames(config.profiles));
    issues.push(
      ...defaultFrom.refuse([
        {
          path: ['default_profile'],
          message: `unknown model profile '${config.defaultProfile}'${close ? `; did you mean '${close}'?` : ''}`,
        },
      ]).issues,
    );
  }
  if (issues.length)
    throw new EnsembleError(
      issues,
      'Fix the config file(s) above; no ensemble can load until they are valid.',
    );
  return config;
}

// ---------------------------------------------------------------------------------------------
// YAML: parse, and map field paths back to lines
// ---------------------------------------------------------------------------------------------

interface ParsedYaml {
  value: unknown;
  /** An EnsembleError for these field-path issues, each placed at its line in the file. */
  refuse(issues: Array<CheckIssue | SchemaIssue>): EnsembleError;
}

function parseYaml(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const syntax: EnsembleIssue[] = [];
  const seenCodes = new Set<string>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    // A deeply nested file fails once per level; one line about it is enough.
    if (e.code === 'RESOURCE_EXHAUSTION' && seenCodes.has(e.code)) continue;
    seenCodes.add(e.code);
    const message =
      e.code === 'RESOURCE_EXHAUSTION' ? 'the YAML is nested too deeply to read' : yamlMessage(e.message);
    syntax.push({ file, ...at(e.pos[0]), path: '', message });
  }
  if (syntax.length === 0) {
    // A mapping key that is itself a list or mapping cannot become a field name.
    visit(doc, {
      Pair(_, pair) {
        if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
          const offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? 0;
          syntax.push({
            file,
            ...at(offset),
            path: '',
            message: 'a key must be a plain name, not a list or mapping',
          });
        }
      },
    });
  }
  if (syntax.length) throw new EnsembleError(syntax, SYNTAX_HINT);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new EnsembleError(
      [{ file, line: 1, column: 1, path: '', message: `cannot read the YAML: ${(e as Error).message}` }],
      SYNTAX_HINT,
    );
  }
  return {
    value,
    refuse(issues) {
      const placed = issues.map((i): EnsembleIssue => {
        const offset = locate(doc, i.path, 'key' in i && i.key === true);
        return { file, ...at(offset), path: formatPath(i.path), message: i.message };
      });
      return new EnsembleError(sortIssues(dedupe(placed)));
    },
  };
}

/** yaml's own message without the position it appends, which we report in our own format. */
function yamlMessage(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Offset of the node at `path`, or of the deepest enclosing node that exists (a missing field is
 * reported at its parent mapping). With `atKey`, the offset of the last key rather than its value.
 */
function locate(doc: Document, fieldPath: readonly PropertyKey[], atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < fieldPath.length; i++) {
    const seg = fieldPath[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyOffset = rangeStart(pair.key);
      if (atKey && i === fieldPath.length - 1) return keyOffset ?? offset;
      node = pair.value;
      offset = rangeStart(node) ?? keyOffset ?? offset;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
    } else break;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? range[0] : undefined;
}

function dedupe(issues: EnsembleIssue[]): EnsembleIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\0${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortIssues(issues: EnsembleIssue[]): EnsembleIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

// ---------------------------------------------------------------------------------------------
// Zod issues in words a YAML author reads
// ---------------------------------------------------------------------------------------------

interface SchemaIssue {
  path: PropertyKey[];
  message: string;
  /** Report at the key (an unknown field) rather than its value. */
  key?: boolean;
}

type ZodIssue = z.core.$ZodIssue;

function schemaIssues(
  issues: readonly ZodIssue[],
  root: unknown,
  file: 'ensemble' | 'config',
  prefix: PropertyKey[] = [],
): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  for (const issue of issues) {
    const where = [...prefix, ...issue.path];
    const value = valueAt(root, where);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys)
          out.push({ path: [...where, key], key: true, message: unknownField(key, where, root, file) });
        break;
      case 'invalid_union': {
        if (issue.discriminator) {
          const options = (issue as { options?: unknown[] }).options ?? [];
          const close = didYouMean(String(value), options.map(String));
          out.push({
            path: where,
            message: `unknown kind ${describe(value)}${close ? `; did you mean '${close}'?` : ''} (kinds: ${options.join(', ')})`,
          });
          break;
        }
        if (value === undefined) {
          out.push({ path: where, message: `missing required field '${String(where[where.length - 1])}'` });
          break;
        }
        // When only one alternative got past the type test, its complaints are the useful ones.
        const relevant = issue.errors.filter(
          (errs) => !errs.every((e) => e.code === 'invalid_type' && e.path.length === 0),
        );
        if (relevant.length === 1) out.push(...schemaIssues(relevant[0]!, root, file, where));
        else if (DURATION_FIELDS.has(String(where[where.length - 1]))) {
          out.push({
            path: where,
            message: `expected a duration such as 30000, '30s' or '2 minutes', got ${describe(value)}`,
          });
        } else {
          const expected = issue.errors.flatMap((errs) =>
            errs.map((e) => (e.code === 'invalid_type' ? (TYPE_WORDS[e.expected] ?? e.expected) : '')),
          );
          const alternatives = [...new Set(expected.filter(Boolean))];
          const what =
            issue.message !== 'Invalid input'
              ? issue.message
              : `expected ${alternatives.join(' or ') || 'another value'}`;
          out.push({ path: where, message: `${what}, got ${describe(value)}` });
        }
        break;
      }
      case 'invalid_type':
        out.push({ path: where, message: invalidType(issue.expected, value, where, file) });
        break;
      case 'invalid_value': {
        const options = issue.values.map(String);
        const close = typeof value === 'string' ? didYouMean(value, options) : undefined;
        out.push({
          path: where,
          message: `expected ${options.length === 1 ? `'${options[0]}'` : `one of ${options.join(', ')}`}, got ${describe(value)}${close ? `; did you mean '${close}'?` : ''}`,
        });
        break;
      }
      case 'invalid_key':
        out.push({
          path: where,
          key: true,
          message: `invalid name '${String(where[where.length - 1])}': ${issue.issues[0]?.message ?? issue.message}`,
        });
        break;
      case 'too_big':
      case 'too_small': {
        // z.int() also bounds at MAX_SAFE_INTEGER; the field's own, smaller bound says more.
        const safeBound = issue.code === 'too_big' && issue.maximum === Number.MAX_SAFE_INTEGER;
        if (
          safeBound &&
          issues.some((o) => o !== issue && o.code === 'too_big' && samePath(o.path, issue.path))
        )
          break;
        const custom = !/^Too (small|big)/.test(issue.message);
        out.push({
          path: where,
          message: `${custom ? issue.message : sizeMessage(issue)}, got ${describe(value)}`,
        });
        break;
      }
      default:
        out.push({ path: where, message: issue.message });
    }
  }
  return out;
}

function sizeMessage(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const bound = big ? (issue as z.core.$ZodIssueTooBig).maximum : (issue as z.core.$ZodIssueTooSmall).minimum;
  const inclusive = issue.inclusive !== false;
  if (issue.origin === 'array')
    return big
      ? `expected at most ${bound} entries`
      : `expected at least ${bound} entr${bound === 1 ? 'y' : 'ies'}`;
  if (issue.origin === 'string')
    return big ? `expected at most ${bound} characters` : `expected at least ${bound} character(s)`;
  if (!big && Number(bound) === 0 && !inclusive) return 'expected a positive number';
  return `expected a number ${big ? (inclusive ? '<=' : '<') : inclusive ? '>=' : '>'} ${bound}`;
}

function invalidType(
  expected: string,
  value: unknown,
  where: PropertyKey[],
  file: 'ensemble' | 'config',
): string {
  if (where.length === 0) {
    const shape =
      file === 'ensemble'
        ? 'a mapping with at least name and agents'
        : 'a mapping with profiles and default_profile';
    return value === null || value === undefined
      ? `the file is empty; it should hold ${shape}`
      : `the file should hold ${shape}, not ${describe(value)}`;
  }
  if (value === undefined) return `missing required field '${String(where[where.length - 1])}'`;
  return `expected ${TYPE_WORDS[expected] ?? expected}, got ${describe(value)}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

const DURATION_FIELDS = new Set([
  'timeout',
  'deadline',
  'escalation_deadline',
  'initial_interval',
  'max_interval',
]);

function samePath(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
  return a.length === b.length && a.every((seg, i) => seg === b[i]);
}

function unknownField(key: string, where: PropertyKey[], root: unknown, file: 'ensemble' | 'config'): string {
  const at = knownFieldsAt(where, root, file);
  if (!at) return `unknown field '${key}'`;
  const close = didYouMean(key, at.fields);
  if (close) return `unknown field '${key}' in ${at.what}; did you mean '${close}'?`;
  const otherKind = at.otherKinds?.[key];
  if (otherKind)
    return `'${key}' is a field of ${otherKind} steps, not of ${at.what}; add kind: ${otherKind} if that is what you meant`;
  return `unknown field '${key}' in ${at.what} (fields: ${at.fields.join(', ')})`;
}

/** A short, safe description of a YAML value for messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return value.length > 40 ? `'${value.slice(0, 40)}…'` : `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length ? 'a list' : 'an empty list';
  if (typeof value === 'object')
    return Object.getPrototypeOf(value) === Object.prototype
      ? 'a mapping'
      : `a ${value.constructor?.name ?? 'value'}`;
  return typeof value;
}

function valueAt(root: unknown, where: readonly PropertyKey[]): unknown {
  let node = root;
  for (const seg of where) {
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, seg))
      return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Resolution: snake_case config to the camelCase definition a run carries
// ---------------------------------------------------------------------------------------------

function localProfiles(parsed: EnsembleConfig): Record<string, ModelProfile> {
  const out: Record<string, ModelProfile> = {};
  for (const [name, p] of Object.entries(parsed.profiles ?? {})) out[name] = toModelProfile(name, p);
  return out;
}

/** Build the definition; checks have passed, so every reference here resolves. */
function resolveEnsemble(
  parsed: EnsembleConfig,
  profiles: Record<string, ModelProfile>,
  configDefault: string | undefined,
  children: Map<string, EnsembleDefinition>,
): EnsembleDefinition {
  const steps = (parsed.agents ?? parsed.steps)!;
  const defaultProfile = parsed.default_profile ?? configDefault;
  const ctx: ResolveContext = { profiles, defaultProfile, loopDeps: undefined, children };
  if (parsed.memory)
    ctx.memory = {
      namespace: parsed.memory.namespace ?? parsed.name,
      embedding: findProfile(parsed.memory.embedding_profile, profiles)!,
    };
  const def: EnsembleDefinition = { name: parsed.name, steps: steps.map((s) => resolveStep(s, ctx)) };
  if (parsed.description !== undefined) def.description = parsed.description;
  if (parsed.default_input !== undefined) def.defaultInput = parsed.default_input;
  if (parsed.mcp_servers && Object.keys(parsed.mcp_servers).length) def.mcpServers = parsed.mcp_servers;
  // Stated explicitly so the interpreter never has to guess which output is the run's.
  def.output = parsed.output ?? steps[steps.length - 1]!.name;
  if (parsed.budget) {
    const budget: NonNullable<EnsembleDefinition['budget']> = {};
    if (parsed.budget.max_cost_usd !== undefined) budget.maxCostUsd = parsed.budget.max_cost_usd;
    if (parsed.budget.max_tokens !== undefined) budget.maxTokens = parsed.budget.max_tokens;
    if (parsed.budget.gate_deadline !== undefined) budget.gateDeadline = parsed.budget.gate_deadline;
    if (parsed.budget.on_exceeded !== undefined) budget.onExceeded = parsed.budget.on_exceeded;
    def.budget = budget;
  }
  // Round-trip through JSON so what leaves here is exactly what Temporal will serialize.
  return JSON.parse(JSON.stringify(def)) as EnsembleDefinition;
}

interface ResolveContext {
  profiles: Record<string, ModelProfile>;
  defaultProfile: string | undefined;
  /** Inside a loop body: the loop's own depends_on, which a body root step reads by default. */
  loopDeps: string[] | undefined;
  /** Resolved child ensembles, by the name of the step that runs them. */
  children: Map<string, EnsembleDefinition>;
  /** The ensemble's `memory:` settings, resolved: the default namespace and the embedding profile. */
  memory?: { namespace: string; embedding: ModelProfile };
}

function resolveStep(step: StepConfig | BodyStepConfig, ctx: ResolveContext): StepDefinition {
  switch (step.kind) {
    case 'agent':
      return resolveAgent(step, ctx);
    case 'approval':
      return resolveApproval(step, ctx);
    case 'loop':
      return resolveLoop(step, ctx);
    case 'ensemble':
      return resolveEnsembleStep(step, ctx);
    case 'script':
      return resolveScript(step, ctx);
  }
}

function resolveEnsembleStep(e: EnsembleStepConfig, ctx: ResolveContext): EnsembleStep {
  const deps = e.depends_on ?? [];
  const step: EnsembleStep = {
    kind: 'ensemble',
    ...common(e),
    ensemble: e.ensemble,
    prompt: e.prompt ?? (e.fan_out ? '{{item}}' : defaultTemplate(deps, ctx)),
    definition: ctx.children.get(e.name)!,
  };
  if (e.fan_out) {
    step.fanOut = { from: deps[0]! };
    if (typeof e.fan_out === 'object' && e.fan_out.max_concurrency !== undefined)
      step.fanOut.maxConcurrency = e.fan_out.max_concurrency;
  }
  return step;
}

function resolveScript(sc: ScriptStepConfig, ctx: ResolveContext): ScriptStep {
  const step: ScriptStep = {
    kind: 'script',
    ...common(sc),
    command: sc.command,
    input: sc.input ?? scriptInput(sc.depends_on ?? [], ctx),
  };
  if (sc.args) step.args = sc.args;
  if (sc.parameters) step.parameters = sc.parameters;
  if (sc.output_format) step.outputFormat = sc.output_format;
  if (sc.timeout !== undefined) step.timeout = sc.timeout;
  else if (sc.timeout_seconds !== undefined) step.timeout = `${sc.timeout_seconds}s`;
  if (sc.retry) step.retry = resolveRetry(sc.retry);
  if (sc.idempotent !== undefined) step.idempotent = sc.idempotent;
  return step;
}

/** A script's stdin by default: the run's input at a root, one upstream output as it is, several as an agent sees them. */
function scriptInput(deps: string[], ctx: ResolveContext): string {
  const upstream = deps.length ? deps : (ctx.loopDeps ?? []);
  if (upstream.length === 1) return `{{steps.${upstream[0]}}}`;
  return defaultTemplate(deps, ctx);
}

function common(step: StepConfig | BodyStepConfig | EnsembleStepConfig) {
  return {
    name: step.name,
    ...(step.description !== undefined && { description: step.description }),
    dependsOn: [...(step.depends_on ?? [])],
    ...(step.when && { when: step.when }),
    ...(step.input_key !== undefined && { inputKey: step.input_key }),
  };
}

/** What a step sees when it gives no prompt: its upstream outputs, or the run's input at a root. */
function defaultTemplate(deps: string[], ctx: ResolveContext): string {
  const upstream = deps.length ? deps : (ctx.loopDeps ?? []);
  if (upstream.length === 0) return '{{input}}';
  return upstream.map((d) => `## ${d}\n{{steps.${d}}}`).join('\n\n');
}

function resolveAgent(a: AgentConfig, ctx: ResolveContext): AgentStep {
  const deps = a.depends_on ?? [];
  const step: AgentStep = {
    kind: 'agent',
    ...common(a),
    profile: agentProfile(a, ctx),
    prompt: a.prompt ?? (a.fan_out ? '{{item}}' : defaultTemplate(deps, ctx)),
  };
  // A profile's own system prompt (llm-orc's profiles carry one) applies when the step has none.
  const system = a.system_prompt ?? step.profile.systemPrompt;
  delete step.profile.systemPrompt;
  if (system !== undefined) step.system = system;
  if (a.fan_out) {
    step.fanOut = { from: deps[0]! };
    if (typeof a.fan_out === 'object' && a.fan_out.max_concurrency !== undefined)
      step.fanOut.maxConcurrency = a.fan_out.max_concurrency;
    if (typeof a.fan_out === 'object' && a.fan_out.batch)
      step.fanOut.batch = {
        size: a.fan_out.batch.size,
        ...(a.fan_out.batch.flush_ms !== undefined && { flushMs: a.fan_out.batch.flush_ms }),
      };
    if (typeof a.fan_out === 'object' && a.fan_out.shard !== undefined)
      step.fanOut.shard = a.fan_out.shard === false ? false : { size: a.fan_out.shard.size };
  }
  if (a.timeout !== undefined) step.timeout = a.timeout;
  if (a.retry) step.retry = resolveRetry(a.retry);
  if (a.tools) {
    step.tools = a.tools.map((t): ToolRef =>
      typeof t === 'string'
        ? { name: t }
        : {
            name: t.name,
            ...(t.requires_approval !== undefined && { requiresApproval: t.requires_approval }),
            ...(t.idempotent !== undefined && { idempotent: t.idempotent }),
          },
    );
  }
  if (a.max_iterations !== undefined) step.maxIterations = a.max_iterations;
  if (a.output_schema) step.outputSchema = a.output_schema;
  if (a.output_repairs !== undefined) step.outputRepairs = a.output_repairs;
  if (a.memory)
    step.memory = {
      maxContextTokens: a.memory.max_context_tokens,
      ...(a.memory.keep_recent !== undefined && { keepRecent: a.memory.keep_recent }),
    };
  if (ctx.memory && a.recall) {
    step.recall = {
      query: a.recall.query ?? '{{input}}',
      topK: a.recall.top_k ?? 3,
      namespace: a.recall.namespace ?? ctx.memory.namespace,
      ...(a.recall.scope && { scope: a.recall.scope }),
      embedding: ctx.memory.embedding,
    };
  }
  if (ctx.memory && a.remember) {
    step.remember = {
      namespace: (a.remember !== true && a.remember.namespace) || ctx.memory.namespace,
      embedding: ctx.memory.embedding,
    };
  }
  return step;
}

function agentProfile(a: AgentConfig, ctx: ResolveContext): ModelProfile {
  let profile: ModelProfile;
  if (a.provider !== undefined) {
    profile = toModelProfile(`${a.provider}/${a.model}`, {
      provider: a.provider,
      model: a.model!,
      ...(a.base_url !== undefined && { base_url: a.base_url }),
      ...(a.api_key_env !== undefined && { api_key_env: a.api_key_env }),
      ...(a.pricing && { pricing: a.pricing }),
    });
  } else {
    profile = findProfile((a.model_profile ?? ctx.defaultProfile)!, ctx.profiles)!;
  }
  if (a.temperature !== undefined) profile.temperature = a.temperature;
  if (a.max_tokens !== undefined) profile.maxTokens = a.max_tokens;
  // The step's list replaces the profile's; the step's overrides apply to every profile it may use.
  const names = a.fallback_profiles ?? profile.fallbackProfiles ?? [];
  delete profile.fallbackProfiles;
  if (names.length) {
    profile.fallbacks = names.map((n) => {
      const f = findProfile(n, ctx.profiles)!;
      delete f.fallbackProfiles;
      delete f.fallbacks;
      if (a.temperature !== undefined) f.temperature = a.temperature;
      if (a.max_tokens !== undefined) f.maxTokens = a.max_tokens;
      return f;
    });
  }
  return profile;
}

function resolveRetry(r: NonNullable<AgentConfig['retry']>): StepRetry {
  const retry: StepRetry = {};
  if (r.max_attempts !== undefined) retry.maximumAttempts = r.max_attempts;
  if (r.initial_interval !== undefined) retry.initialInterval = r.initial_interval;
  if (r.backoff !== undefined) retry.backoffCoefficient = r.backoff;
  if (r.max_interval !== undefined) retry.maximumInterval = r.max_interval;
  return retry;
}

function resolveApproval(a: ApprovalConfig, ctx: ResolveContext): ApprovalStep {
  const step: ApprovalStep = {
    kind: 'approval',
    ...common(a),
    present: a.present ?? defaultTemplate(a.depends_on ?? [], ctx),
    deadline: a.deadline,
    onTimeout: a.on_timeout ?? 'reject', // a gate nobody answered does not let work through
  };
  if (a.escalation_deadline !== undefined) step.escalationDeadline = a.escalation_deadline;
  return step;
}

function resolveLoop(l: LoopConfig, ctx: ResolveContext): LoopStep {
  const inner: ResolveContext = { ...ctx, loopDeps: l.depends_on ?? [] };
  return {
    kind: 'loop',
    ...common(l),
    body: l.body.map((b) => resolveStep(b, inner)),
    until: l.until,
    maxIterations: l.max_iterations,
  };
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

function readText(file: string, what: 'ensemble' | 'config'): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      `Cannot read ${what} file ${path.resolve(file)}${code ? ` (${code})` : ''}: ${(e as Error).message}`,
    );
  }
}

/** Run `fn`; anything but an EnsembleError becomes one, so callers only ever handle that type. */
function guard<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof EnsembleError) throw e;
    const message =
      e instanceof RangeError
        ? 'the file is nested too deeply or is too large to read'
        : `internal error while loading (please report it): ${e instanceof Error ? e.message : String(e)}`;
    throw new EnsembleError([{ file, line: 1, column: 1, path: '', message }]);
  }
}
