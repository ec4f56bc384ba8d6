/**
 * Static checks of a schema-valid ensemble: the graph (names, dependencies, cycles), profiles,
 * tools, templates and conditions. Every problem is collected, so one load reports them all.
 */
import type { Condition, ModelProfile } from '../types';
import { scanTemplate } from '../workflows/template';
import type { AgentConfig, ApprovalConfig, EnsembleConfig, LoopConfig, StepConfig } from './ensemble-schema';
import { didYouMean, formatPath, suggestion } from './errors';
import { findProfile, profileNames, UnknownProfileError } from './profiles';

/** A problem found by a check; `path` is a field path inside the ensemble file. */
export interface CheckIssue {
  path: (string | number)[];
  message: string;
}

/** What the checks need beyond the file itself. */
export interface CheckContext {
  /** Profiles visible to the ensemble: config files merged with the ensemble's own `profiles:`. */
  profiles: Record<string, ModelProfile>;
  /** `default_profile` from config files, used when neither agent nor ensemble names one. */
  configDefaultProfile?: string;
  /** Tool names registered on the worker; when given, an unknown tool is an error. */
  knownTools?: readonly string[];
}

/** A step with where it sits: its field path and, for a body step, the loop around it. */
export interface PlacedStep {
  step: StepConfig;
  path: (string | number)[];
  loop?: PlacedStep;
}

/** Every step of an ensemble, loop bodies included, in declaration order. */
export function placeSteps(config: EnsembleConfig): PlacedStep[] {
  const key = config.agents ? 'agents' : 'steps';
  const placed: PlacedStep[] = [];
  (config.agents ?? config.steps ?? []).forEach((step, i) => {
    const outer: PlacedStep = { step, path: [key, i] };
    placed.push(outer);
    if (step.kind === 'loop')
      step.body.forEach((inner, j) => placed.push({ step: inner, path: [key, i, 'body', j], loop: outer }));
  });
  return placed;
}

/**
 * Run every static check; returns all issues found (empty when the ensemble is sound).
 * @example checkEnsemble(parsed, { profiles: {} }) // [{ path: ['agents', 1, 'depends_on', 0], message: "unknown step 'x'" }]
 */
export function checkEnsemble(config: EnsembleConfig, context: CheckContext): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const placed = placeSteps(config);
  const graph = new Graph(placed);
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });

  checkNames(placed, add);
  checkDependencies(placed, graph, add);
  checkCycles(placed, graph, add);
  checkProfiles(config, placed, context, add);
  for (const p of placed) {
    checkTools(p, context.knownTools, add);
    checkFanOut(p, add);
    checkTemplates(p, graph, add);
    checkConditions(p, graph, add);
    checkApproval(p, add);
  }
  checkOutput(config, graph, add);
  return issues;
}

type Add = (path: (string | number)[], message: string) => void;

/** Names, dependencies and upstream sets, computed once. Maps, because step names are user data. */
class Graph {
  readonly byName = new Map<string, PlacedStep>();
  private upstreamMemo = new Map<PlacedStep, Set<string>>();

  constructor(readonly placed: PlacedStep[]) {
    for (const p of placed) if (!this.byName.has(p.step.name)) this.byName.set(p.step.name, p);
  }

  /** Dependencies a step may legally have (others are reported by checkDependencies). */
  validDeps(p: PlacedStep): PlacedStep[] {
    const out: PlacedStep[] = [];
    for (const name of p.step.depends_on ?? []) {
      const dep = this.byName.get(name);
      if (dep && this.depProblem(p, dep) === undefined) out.push(dep);
    }
    return out;
  }

  /** Why `p` may not depend on `dep`, or undefined. */
  depProblem(p: PlacedStep, dep: PlacedStep): string | undefined {
    if (dep.loop && dep.loop !== p.loop) {
      return `'${dep.step.name}' is inside loop '${dep.loop.step.name}'; depend on '${dep.loop.step.name}' instead`;
    }
    if (p.loop && dep === p.loop) return `a body step cannot depend on its own loop '${dep.step.name}'`;
    return undefined;
  }

  /**
   * Names of the steps whose outputs `p` can read: its transitive dependencies and, for a body
   * step, whatever precedes its loop. Body steps of another loop are not among them: the
   * interpreter keeps a body's outputs inside the loop, and the loop's output is its last step's.
   */
  upstream(p: PlacedStep): Set<string> {
    const memo = this.upstreamMemo.get(p);
    if (memo) return memo;
    const seen = new Set<string>();
    const stack = [...this.validDeps(p)];
    if (p.loop) stack.push(...this.validDeps(p.loop));
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s.step.name)) continue;
      seen.add(s.step.name);
      stack.push(...this.validDeps(s));
      if (s.loop) stack.push(...this.validDeps(s.loop));
    }
    this.upstreamMemo.set(p, seen);
    return seen;
  }
}

function checkNames(placed: PlacedStep[], add: Add): void {
  const first = new Map<string, PlacedStep>();
  for (const p of placed) {
    const earlier = first.get(p.step.name);
    if (earlier)
      add(
        [...p.path, 'name'],
        `duplicate step name '${p.step.name}'; first declared at ${formatPath(earlier.path)}`,
      );
    else first.set(p.step.name, p);
  }
}

function checkDependencies(placed: PlacedStep[], graph: Graph, add: Add): void {
  for (const p of placed) {
    const seen = new Set<string>();
    (p.step.depends_on ?? []).forEach((name, j) => {
      const path = [...p.path, 'depends_on', j];
      if (seen.has(name)) return add(path, `'${name}' is listed twice`);
      seen.add(name);
      const dep = graph.byName.get(name);
      if (!dep) {
        const visible = graph.placed
          .filter((q) => q !== p && (!q.loop || q.loop === p.loop))
          .map((q) => q.step.name);
        return add(path, `unknown step '${name}'${suggestion(name, visible)}`);
      }
      const problem = graph.depProblem(p, dep);
      if (problem) return add(path, problem);
      // A body step reads outer steps while the loop runs, so they must be done before the loop starts.
      if (p.loop && !dep.loop && !graph.upstream(p.loop).has(name)) {
        add(
          path,
          `'${name}' does not run before loop '${p.loop.step.name}'; add it to the loop's depends_on`,
        );
      }
    });
  }
}

/** Report each dependency cycle once, named in order: `a -> b -> a` reads "a waits for b, which waits for a". */
function checkCycles(placed: PlacedStep[], graph: Graph, add: Add): void {
  const state = new Map<PlacedStep, 'open' | 'done'>();
  for (const start of placed) {
    if (state.has(start)) continue;
    // Iterative depth-first search; the explicit stack is the current path.
    const path: { node: PlacedStep; deps: PlacedStep[]; next: number }[] = [];
    const enter = (node: PlacedStep) => {
      state.set(node, 'open');
      path.push({ node, deps: graph.validDeps(node), next: 0 });
    };
    enter(start);
    while (path.length) {
      const top = path[path.length - 1]!;
      if (top.next >= top.deps.length) {
        state.set(top.node, 'done');
        path.pop();
        continue;
      }
      const dep = top.deps[top.next++]!;
      const s = state.get(dep);
      if (s === undefined) enter(dep);
      else if (s === 'open') {
        const from = path.findIndex((f) => f.node === dep);
        const names = [...path.slice(from).map((f) => f.node.step.name), dep.step.name];
        const j = (top.node.step.depends_on ?? []).indexOf(dep.step.name);
        add([...top.node.path, 'depends_on', j], `dependency cycle: ${names.join(' -> ')}`);
      }
    }
  }
}

function checkProfiles(config: EnsembleConfig, placed: PlacedStep[], context: CheckContext, add: Add): void {
  const known = profileNames(context.profiles);
  const unknown = (name: string) => {
    const close = didYouMean(name, known);
    return `${new UnknownProfileError(name, known).message}${close ? ` Did you mean '${close}'?` : ''}`;
  };
  if (config.default_profile !== undefined && !findProfile(config.default_profile, context.profiles)) {
    add(['default_profile'], unknown(config.default_profile));
  }
  // fallback_profiles name profiles too; a profile that names itself would only try again.
  const checkFallbacks = (owner: string, names: string[], path: (string | number)[]) =>
    names.forEach((f, i) => {
      if (!findProfile(f, context.profiles)) add([...path, i], unknown(f));
      else if (f === owner)
        add([...path, i], `profile '${owner}' names itself as a fallback; name another profile`);
    });
  for (const [name, prof] of Object.entries(config.profiles ?? {}))
    checkFallbacks(name, prof.fallback_profiles ?? [], ['profiles', name, 'fallback_profiles']);
  const embedding = config.memory?.embedding_profile;
  if (embedding !== undefined && !findProfile(embedding, context.profiles))
    add(['memory', 'embedding_profile'], unknown(embedding));
  for (const p of placed) {
    if (p.step.kind !== 'agent') continue;
    const a: AgentConfig = p.step;
    const primary =
      a.provider !== undefined
        ? `${a.provider}/${a.model}`
        : (a.model_profile ?? config.default_profile ?? context.configDefaultProfile);
    if (a.fallback_profiles)
      checkFallbacks(primary ?? a.name, a.fallback_profiles, [...p.path, 'fallback_profiles']);
    else if (
      primary !== undefined &&
      a.provider === undefined &&
      !Object.prototype.hasOwnProperty.call(config.profiles ?? {}, primary)
    ) {
      // A profile from a config file: its fallbacks are checked where a step uses it.
      const names = findProfile(primary, context.profiles)?.fallbackProfiles ?? [];
      for (const f of names)
        if (!findProfile(f, context.profiles))
          add(
            [...p.path, a.model_profile !== undefined ? 'model_profile' : 'name'],
            `profile '${primary}' names fallback profile '${f}': ${unknown(f)}`,
          );
    }
    for (const field of ['recall', 'remember'] as const)
      if (a[field] !== undefined && config.memory === undefined)
        add(
          [...p.path, field],
          `${field} needs the ensemble's memory settings: add memory: { embedding_profile: <profile> } (docs/memory.md)`,
        );
    if (a.model_profile !== undefined) {
      if (!findProfile(a.model_profile, context.profiles))
        add([...p.path, 'model_profile'], unknown(a.model_profile));
    } else if (
      a.provider === undefined &&
      config.default_profile === undefined &&
      context.configDefaultProfile === undefined
    ) {
      add(
        [...p.path, 'name'],
        `agent '${a.name}' has no model: set model_profile (or provider + model), or a default_profile for the ensemble`,
      );
    }
  }
}

function checkTools(p: PlacedStep, knownTools: readonly string[] | undefined, add: Add): void {
  if (p.step.kind !== 'agent' || !p.step.tools) return;
  const seen = new Set<string>();
  p.step.tools.forEach((tool, j) => {
    const name = typeof tool === 'string' ? tool : tool.name;
    const path = [...p.path, 'tools', j];
    if (seen.has(name)) return add(path, `tool '${name}' is listed twice`);
    seen.add(name);
    // `<server>.<tool>`: an MCP server's tool, which the worker's servers answer for at run time.
    if (knownTools && !name.includes('.') && !knownTools.includes(name)) {
      const known = knownTools.length
        ? `registered tools: ${[...knownTools].sort().join(', ')}`
        : 'no tools are registered';
      add(path, `unknown tool '${name}'${suggestion(name, knownTools)} (${known})`);
    }
  });
}

function checkFanOut(p: PlacedStep, add: Add): void {
  if (p.step.input_key !== undefined && (p.step.depends_on ?? []).length === 0)
    add(
      [...p.path, 'input_key'],
      'input_key reads a key of the first depends_on step, so the step needs depends_on',
    );
  if ((p.step.kind !== 'agent' && p.step.kind !== 'ensemble') || !p.step.fan_out) return;
  const n = (p.step.depends_on ?? []).length;
  if (n !== 1) {
    add(
      [...p.path, 'fan_out'],
      `fan_out runs once per item of one upstream step's output, so it needs exactly one depends_on entry (found ${n})`,
    );
  }
}

function checkTemplates(p: PlacedStep, graph: Graph, add: Add): void {
  const s = p.step;
  // The interpreter renders an agent's system prompt as a template too.
  const templates: [string, string | undefined][] =
    s.kind === 'agent'
      ? [
          ['system_prompt', s.system_prompt],
          ['prompt', s.prompt],
        ]
      : s.kind === 'approval'
        ? [['present', s.present]]
        : s.kind === 'ensemble'
          ? [['prompt', s.prompt]]
          : s.kind === 'script'
            ? [['input', s.input]]
            : [];
  for (const [field, template] of templates)
    if (template !== undefined) checkTemplate(p, field, template, graph, add);
}

function checkTemplate(p: PlacedStep, field: string, template: string, graph: Graph, add: Add): void {
  const s = p.step;
  const path = [...p.path, field];
  const { refs, errors } = scanTemplate(template);
  for (const e of errors) add(path, e.message);
  const fansOut = (s.kind === 'agent' || s.kind === 'ensemble') && Boolean(s.fan_out);
  for (const ref of refs) {
    const shown = `{{${ref.kind === 'step' ? `steps.${ref.name}` : ref.kind === 'loop' ? `loop.${ref.name}` : ref.kind === 'chunk' ? ref.name : ref.kind}${ref.path ? `.${ref.path.join('.')}` : ''}}}`;
    if ((ref.kind === 'item' || ref.kind === 'chunk') && !fansOut)
      add(path, `${shown} is only defined in a fan_out step; add fan_out: true or remove it`);
    else if (ref.kind === 'loop' && !p.loop) add(path, `${shown} is only defined inside a loop body`);
    else if (ref.kind === 'step') {
      const problem = refProblem(ref.name!, p, graph, shown);
      if (problem) add(path, problem);
    }
  }
}

/** Why step `p` cannot read step `name`'s output, or undefined. */
function refProblem(name: string, p: PlacedStep, graph: Graph, shown: string): string | undefined {
  if (name === p.step.name) return `${shown}: a step cannot read its own output`;
  if (!graph.byName.has(name))
    return `${shown}: unknown step '${name}'${suggestion(name, graph.byName.keys())}`;
  const target = graph.byName.get(name)!;
  if (target.loop && target.loop !== p.loop) {
    return `${shown}: step '${name}' is inside loop '${target.loop.step.name}', and its output stays there; read '${target.loop.step.name}' (the loop's output: its last body step's) instead`;
  }
  if (!graph.upstream(p).has(name)) {
    return `${shown}: step '${name}' does not run before '${p.step.name}'; add it to depends_on (directly or through a dependency)`;
  }
  return undefined;
}

function checkConditions(p: PlacedStep, graph: Graph, add: Add): void {
  const when: Condition | undefined = p.step.when;
  if (when) {
    const name = when.ref.split('.')[0]!;
    const problem = refProblem(name, p, graph, `when '${when.ref}'`);
    if (problem) add([...p.path, 'when'], problem);
  }
  if (p.step.kind === 'loop') {
    const loop: LoopConfig = p.step;
    const name = loop.until.ref.split('.')[0]!;
    const body = loop.body.map((b) => b.name);
    if (!body.includes(name)) {
      add(
        [...p.path, 'until'],
        `until '${loop.until.ref}' must read a step of this loop's body (${body.join(', ')})${suggestion(name, body)}`,
      );
    }
  }
}

function checkApproval(p: PlacedStep, add: Add): void {
  if (p.step.kind !== 'approval') return;
  const a: ApprovalConfig = p.step;
  if (a.on_timeout === 'escalate' && a.escalation_deadline === undefined) {
    add(
      [...p.path, 'on_timeout'],
      'on_timeout: escalate needs escalation_deadline (how long to wait after escalating)',
    );
  } else if (a.on_timeout !== 'escalate' && a.escalation_deadline !== undefined) {
    add([...p.path, 'escalation_deadline'], 'escalation_deadline only applies with on_timeout: escalate');
  }
}

function checkOutput(config: EnsembleConfig, graph: Graph, add: Add): void {
  if (config.output === undefined) return;
  const target = graph.byName.get(config.output);
  if (!target)
    add(['output'], `unknown step '${config.output}'${suggestion(config.output, graph.byName.keys())}`);
  else if (target.loop) {
    add(
      ['output'],
      `'${config.output}' is inside loop '${target.loop.step.name}'; name the loop, whose output is its last body step's`,
    );
  }
}
