/**
 * The one schema of a resolved definition (the plain JSON a run carries as workflow input) and
 * of the run input around it. Every door checks a run with it: the YAML loader's output, the
 * HTTP API, the typed client before it starts a run, and the run workflow itself before it
 * reads a field, so a definition built in code, sent over HTTP or typed by hand for
 * `temporal workflow start` is held to the same rules as a YAML file.
 *
 * It runs inside workflow code too, so it is pure: zod and the template grammar, no Node APIs.
 * Unknown fields pass through untouched (newer Baton versions may add some); everything a run
 * reads is checked, with the static checks of the YAML loader: names, dependencies, cycles,
 * template references, conditions, providers and durations.
 */
import { z } from 'zod';
import type { EnsembleDefinition } from '../types';
import { RESERVED_REF_NAMES, scanTemplate } from '../workflows/template';

/** Step names: usable in `{{NAME}}` and in condition refs, so no dots, slashes or spaces. */
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Ensemble names, as the YAML loader accepts them. */
const ENSEMBLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Resolved profile names include `provider/model` for inline models; no `..` segments, no spaces. */
const PROFILE_NAME = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$/;
/** A registered tool, or an MCP server's tool as `<server>.<tool>` (MCP tool names may hold dots). */
const TOOL_REF_NAME = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_./-]{1,128})?$/;
/** MCP server and script names, as the worker config spells them. */
const RESOURCE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const REF = /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
/** What Temporal's duration strings accept (the `ms` package), with a unit or as bare milliseconds. */
const DURATION =
  /^\d*\.?\d+\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)?$/i;

/** Run ids a new run may take: Temporal accepts more, but these stay safe in URLs, logs and shells. */
export const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:@=+-]*$/;
export const MAX_RUN_ID = 255;

/** A new run's id: at most 255 characters of letters, digits and `. _ : @ = + -`. */
export const runIdSchema = z
  .string({ error: 'expected a run id (a string)' })
  .min(1, { message: 'a run id cannot be empty' })
  .max(MAX_RUN_ID, { message: `a run id holds at most ${MAX_RUN_ID} characters` })
  .regex(RUN_ID, {
    message: 'a run id starts with a letter or digit and holds only letters, digits and . _ : @ = + -',
  });

/** A duration as Temporal reads it: milliseconds, or a string with a unit such as '30s' or '2 minutes'. */
const DURATION_WORDS =
  "expected a duration: milliseconds, or a string with a unit such as '30s', '2 minutes' or '1h'";
export const durationSchema = z.union(
  [
    z.number({ error: DURATION_WORDS }).int().positive().max(Number.MAX_SAFE_INTEGER),
    z
      .string({ error: DURATION_WORDS })
      .regex(DURATION, { message: DURATION_WORDS })
      .refine((v) => v.length <= 40 && parseFloat(v.replace(/^\./, '0.')) > 0, {
        message: 'a duration must be longer than zero',
        when: (p) => p.issues.length === 0,
      }),
  ],
  { error: DURATION_WORDS },
);

export const providerNameSchema = z.enum(['openai', 'anthropic', 'gemini', 'openai-compatible', 'offline'], {
  error: "expected a provider: 'openai', 'anthropic', 'gemini', 'openai-compatible' or 'offline'",
});

const stepName = z
  .string({ error: 'expected a step name (a string)' })
  .regex(STEP_NAME, {
    message: 'a step name starts with a letter and holds only letters, digits, - and _ (at most 64)',
  })
  .refine((n) => !RESERVED_REF_NAMES.includes(n), {
    message: `'input', 'item', 'loop' and 'steps' are reserved in templates; pick another step name`,
  });

const ref = z
  .string()
  .regex(REF, { message: "expected a step reference such as 'triage' or 'triage.category'" });

const conditionSchema = z.looseObject({
  ref,
  op: z.enum(['equals', 'not_equals', 'contains', 'truthy', 'falsy']),
  value: z.union([z.string(), z.number(), z.boolean()]).optional(),
});

/** A base URL without credentials or a query (keys live in the worker's environment). Pure: no URL class. */
const baseUrlSchema = z
  .string()
  .max(2000)
  .regex(/^https?:\/\/[^\s/?#@]+(\/[^\s?#]*)?$/, {
    message: 'expected an http(s) URL without user, password, query or fragment (keys go in api_key_env)',
  });

export const pricingSchema = z.looseObject({
  inputPerMTok: z.number().nonnegative().finite(),
  outputPerMTok: z.number().nonnegative().finite(),
  cachedInputPerMTok: z.number().nonnegative().finite().optional(),
});

/** A resolved model profile: no key, only the name of the worker's variable that holds one. */
const profileShapeSchema = z.looseObject({
  name: z.string().regex(PROFILE_NAME, {
    message: "a profile name holds only letters, digits and . _ : @ / + - (no '..', at most 200)",
  }),
  provider: providerNameSchema,
  model: z.string().min(1).max(200),
  baseURL: baseUrlSchema.optional(),
  apiKeyEnv: z
    .string()
    .regex(ENV_NAME, { message: 'expected the NAME of an environment variable' })
    .optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
  timeout: durationSchema.optional(),
  pricing: pricingSchema.optional(),
});

/** A resolved profile with the profiles tried after it (flat: a fallback's own fallbacks are not followed). */
export const modelProfileSchema = profileShapeSchema.extend({
  fallbacks: z.array(profileShapeSchema).max(10, { message: 'at most 10 fallback profiles' }).optional(),
});

const retrySchema = z.looseObject({
  maximumAttempts: z.number().int().min(1).max(100).optional(),
  initialInterval: durationSchema.optional(),
  backoffCoefficient: z.number().min(1).max(100).optional(),
  maximumInterval: durationSchema.optional(),
});

const commonShape = {
  name: stepName,
  description: z.string().optional(),
  dependsOn: z.array(z.string(), { error: 'expected a list of step names' }),
  when: conditionSchema.optional(),
  fanOut: z
    .looseObject({
      from: z.string(),
      maxConcurrency: z.number().int().min(1).max(10_000).optional(),
      batch: z
        .looseObject({
          size: z.number().int().min(1).max(1000),
          flushMs: z.number().int().min(0).max(3_600_000).optional(),
        })
        .optional(),
      shard: z
        .union([z.literal(false), z.looseObject({ size: z.number().int().min(1).max(100_000) })])
        .optional(),
    })
    .optional(),
  timeout: durationSchema.optional(),
  retry: retrySchema.optional(),
  inputKey: z.string().min(1).max(200).optional(),
};

/** A memory namespace: free text, but short and without control characters. */
const memoryNamespace = z
  .string()
  .min(1)
  .max(200)
  .refine((v) => ![...v].some((c) => c.charCodeAt(0) < 32), {
    message: 'a memory namespace holds no control characters',
  });

const agentStepSchema = z.looseObject({
  kind: z.literal('agent'),
  ...commonShape,
  profile: modelProfileSchema,
  system: z.string().optional(),
  prompt: z.string(),
  tools: z
    .array(
      z.looseObject({
        name: z.string().regex(TOOL_REF_NAME, {
          message:
            "a tool name holds only letters, digits, - and _ (an MCP server's tool: '<server>.<tool>')",
        }),
        requiresApproval: z.boolean().optional(),
        idempotent: z.boolean().optional(),
      }),
    )
    .optional(),
  maxIterations: z.number().int().min(1).max(1000).optional(),
  outputSchema: z.record(z.string(), z.unknown()).optional(),
  outputRepairs: z.number().int().min(0).max(10).optional(),
  recall: z
    .looseObject({
      query: z.string(),
      topK: z.number().int().min(1).max(100),
      namespace: memoryNamespace,
      scope: z.enum(['namespace', 'user', 'thread']).optional(),
      embedding: modelProfileSchema,
    })
    .optional(),
  remember: z.looseObject({ namespace: memoryNamespace, embedding: modelProfileSchema }).optional(),
  memory: z
    .looseObject({
      maxContextTokens: z.number().int().min(100).max(10_000_000),
      keepRecent: z.number().int().min(1).max(1000).optional(),
    })
    .optional(),
});

const approvalStepSchema = z.looseObject({
  kind: z.literal('approval'),
  ...commonShape,
  present: z.string(),
  deadline: durationSchema,
  onTimeout: z.enum(['reject', 'approve', 'escalate']),
  escalationDeadline: durationSchema.optional(),
});

const scriptStepSchema = z.looseObject({
  kind: z.literal('script'),
  ...commonShape,
  command: z.string().regex(RESOURCE_NAME, {
    message: "expected the name of a script in the worker's config (letters, digits, - and _)",
  }),
  args: z.array(z.string().max(10_000)).max(1000).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  input: z.string(),
  outputFormat: z.enum(['text', 'json']).optional(),
  idempotent: z.boolean().optional(),
});

const bodyStepSchema = z.discriminatedUnion('kind', [agentStepSchema, approvalStepSchema, scriptStepSchema], {
  error: "expected a step of kind 'agent', 'approval' or 'script' (a loop cannot hold another loop)",
});

const loopStepSchema = z.looseObject({
  kind: z.literal('loop'),
  ...commonShape,
  body: z.array(bodyStepSchema).min(1, { message: 'a loop needs at least one body step' }),
  until: conditionSchema,
  maxIterations: z.number().int().min(1).max(10_000),
});

/**
 * A child ensemble, resolved into the parent. Its definition is checked in full by the cross-step
 * checks (definitionSchema, recursively), not here: a recursive schema could not be written out
 * as the HTTP API's OpenAPI document.
 */
const ensembleStepSchema = z.looseObject({
  kind: z.literal('ensemble'),
  ...commonShape,
  ensemble: z.string().min(1).max(500),
  prompt: z.string(),
  definition: z.looseObject({ name: z.string(), steps: z.array(z.unknown()) }),
});

/** `mcp_servers` entries: a stdio command (argv) with optional env, or a streamable HTTP URL. */
export const mcpServerDeclarationSchema = z.union(
  [
    z.strictObject({
      command: z.array(z.string().min(1)).min(1, { message: 'a command needs at least the program' }),
      env: z.record(z.string().regex(ENV_NAME), z.string()).optional(),
    }),
    z.strictObject({ url: baseUrlSchema }),
  ],
  {
    error:
      'expected an MCP server: { command: [program, arg, ...], env?: {...} } or { url: "https://host/mcp" }',
  },
);

const stepSchema = z.discriminatedUnion(
  'kind',
  [agentStepSchema, approvalStepSchema, loopStepSchema, ensembleStepSchema, scriptStepSchema],
  { error: "expected a step of kind 'agent', 'approval', 'loop', 'ensemble' or 'script'" },
);

/** The shape of a resolved definition, without the cross-step checks. */
const definitionShapeSchema = z.looseObject(
  {
    name: z.string({ error: 'expected the ensemble name (a string)' }).regex(ENSEMBLE_NAME, {
      message:
        'an ensemble name starts with a letter or digit and holds only letters, digits, ., - and _ (at most 128)',
    }),
    description: z.string().optional(),
    steps: z
      .array(stepSchema, { error: 'expected a list of steps' })
      .min(1, { message: 'a definition needs at least one step' })
      .max(10_000),
    output: z.string().optional(),
    mcpServers: z
      .record(
        z.string().regex(RESOURCE_NAME, {
          message: 'an MCP server name holds only letters, digits, - and _ (at most 64)',
        }),
        mcpServerDeclarationSchema,
      )
      .optional(),
    budget: z
      .looseObject({
        maxCostUsd: z.number().positive().finite().optional(),
        maxTokens: z.number().int().positive().optional(),
      })
      .optional(),
    defaultInput: z.string().optional(),
  },
  {
    error: (issue) =>
      issue.input === undefined
        ? 'missing: expected the resolved ensemble { name, steps } (an object)'
        : 'expected the resolved ensemble { name, steps } (an object)',
  },
);

type Path = (string | number)[];
type Add = (path: Path, message: string) => void;

interface Placed {
  step: z.infer<typeof stepSchema>;
  path: Path;
  loop?: Placed;
}

/** The cross-step rules the YAML loader also applies (checks.ts), on the resolved form. */
function crossChecks(def: z.infer<typeof definitionShapeSchema>, add: Add): void {
  const placed: Placed[] = [];
  def.steps.forEach((step, i) => {
    const outer: Placed = { step, path: ['steps', i] };
    placed.push(outer);
    if (step.kind === 'loop')
      step.body.forEach((inner, j) =>
        placed.push({ step: inner as Placed['step'], path: ['steps', i, 'body', j], loop: outer }),
      );
  });
  const byName = new Map<string, Placed>();
  for (const p of placed) {
    if (byName.has(p.step.name)) add([...p.path, 'name'], `duplicate step name '${p.step.name}'`);
    else byName.set(p.step.name, p);
  }
  // Dependencies: a known step at the same level, or (for a body step) one outside every loop.
  const deps = new Map<Placed, Placed[]>();
  for (const p of placed) {
    const valid: Placed[] = [];
    const seen = new Set<string>();
    p.step.dependsOn.forEach((name, j) => {
      const path = [...p.path, 'dependsOn', j];
      if (seen.has(name)) return add(path, `'${name}' is listed twice`);
      seen.add(name);
      const dep = byName.get(name);
      if (!dep) return add(path, `unknown step '${name}'`);
      if (dep === p) return add(path, 'a step cannot depend on itself');
      if (dep.loop && dep.loop !== p.loop)
        return add(path, `'${name}' is inside loop '${dep.loop.step.name}'; depend on the loop instead`);
      if (p.loop && dep === p.loop) return add(path, `a body step cannot depend on its own loop '${name}'`);
      valid.push(dep);
    });
    deps.set(p, valid);
  }
  // Cycles (iterative depth-first search; the stack is the current path).
  const state = new Map<Placed, 'open' | 'done'>();
  for (const start of placed) {
    if (state.has(start)) continue;
    const stack: { node: Placed; next: number }[] = [{ node: start, next: 0 }];
    state.set(start, 'open');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const ds = deps.get(top.node)!;
      if (top.next >= ds.length) {
        state.set(top.node, 'done');
        stack.pop();
        continue;
      }
      const dep = ds[top.next++]!;
      const s = state.get(dep);
      if (s === undefined) {
        state.set(dep, 'open');
        stack.push({ node: dep, next: 0 });
      } else if (s === 'open') {
        const from = stack.findIndex((f) => f.node === dep);
        const names = [...stack.slice(from).map((f) => f.node.step.name), dep.step.name];
        add([...top.node.path, 'dependsOn'], `dependency cycle: ${names.join(' -> ')}`);
      }
    }
  }
  // What a step can read: its transitive dependencies, and for a body step what precedes its loop.
  const memo = new Map<Placed, Set<string>>();
  const upstream = (p: Placed): Set<string> => {
    const hit = memo.get(p);
    if (hit) return hit;
    const seen = new Set<string>();
    const stack = [...deps.get(p)!, ...(p.loop ? deps.get(p.loop)! : [])];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s.step.name)) continue;
      seen.add(s.step.name);
      stack.push(...deps.get(s)!, ...(s.loop ? deps.get(s.loop)! : []));
    }
    memo.set(p, seen);
    return seen;
  };
  const readProblem = (name: string, p: Placed): string | undefined => {
    if (name === p.step.name) return 'a step cannot read its own output';
    const target = byName.get(name);
    if (!target) return `unknown step '${name}'`;
    if (target.loop && target.loop !== p.loop)
      return `step '${name}' is inside loop '${target.loop.step.name}'; read the loop's output instead`;
    if (!upstream(p).has(name))
      return `step '${name}' does not run before '${p.step.name}'; add it to dependsOn`;
    return undefined;
  };
  for (const p of placed) {
    const s = p.step;
    const templates: [string, string | undefined][] =
      s.kind === 'agent'
        ? [
            ['system', s.system],
            ['prompt', s.prompt],
            ['recall', s.recall?.query],
          ]
        : s.kind === 'approval'
          ? [['present', s.present]]
          : s.kind === 'ensemble'
            ? [['prompt', s.prompt]]
            : s.kind === 'script'
              ? [['input', s.input]]
              : [];
    for (const [field, template] of templates) {
      if (template === undefined) continue;
      const path = [...p.path, field];
      const { refs, errors } = scanTemplate(template);
      for (const e of errors) add(path, e.message);
      for (const r of refs) {
        const shown = `{{${r.kind === 'step' ? `steps.${r.name}` : r.kind === 'loop' ? `loop.${r.name}` : r.kind === 'chunk' ? r.name : r.kind}${r.path ? `.${r.path.join('.')}` : ''}}}`;
        if ((r.kind === 'item' || r.kind === 'chunk') && !s.fanOut)
          add(path, `${shown} is only defined in a fan-out step`);
        else if (r.kind === 'loop' && !p.loop) add(path, `${shown} is only defined inside a loop body`);
        else if (r.kind === 'step') {
          const problem = readProblem(r.name!, p);
          if (problem) add(path, `${shown}: ${problem}`);
        }
      }
    }
    if (s.fanOut && !s.dependsOn.includes(s.fanOut.from))
      add([...p.path, 'fanOut', 'from'], `fanOut.from '${s.fanOut.from}' must be one of dependsOn`);
    if (s.when) {
      const problem = readProblem(s.when.ref.split('.')[0]!, p);
      if (problem) add([...p.path, 'when', 'ref'], problem);
    }
    if (s.kind === 'loop') {
      const head = s.until.ref.split('.')[0]!;
      if (!s.body.some((b) => b.name === head))
        add([...p.path, 'until', 'ref'], `until must read a step of this loop's body, not '${head}'`);
    }
    if (s.inputKey !== undefined && s.dependsOn.length === 0)
      add(
        [...p.path, 'inputKey'],
        'inputKey reads a key of the first dependency, so the step needs dependsOn',
      );
    if (s.kind === 'ensemble') {
      const child = definitionSchema.safeParse(s.definition);
      if (!child.success)
        for (const issue of child.error.issues)
          add([...p.path, 'definition', ...(issue.path as Path)], issue.message);
    }
    if (s.kind === 'script' && s.fanOut)
      add([...p.path, 'fanOut'], 'a script step cannot fan out; fan out an agent step instead');
    if (s.kind === 'approval' && s.onTimeout === 'escalate' && s.escalationDeadline === undefined)
      add([...p.path, 'escalationDeadline'], "onTimeout 'escalate' needs an escalationDeadline");
  }
  if (def.output !== undefined) {
    const target = byName.get(def.output);
    if (!target) add(['output'], `unknown step '${def.output}'`);
    else if (target.loop) add(['output'], `'${def.output}' is inside a loop; name the loop instead`);
  }
}

/** The resolved definition: shape and every static check. */
export const definitionSchema = definitionShapeSchema.superRefine((def, ctx) =>
  crossChecks(def, (path, message) => ctx.addIssue({ code: 'custom', path, message })),
);

/** Per-run options (RunOptions). */
export const runOptionsSchema = z.looseObject({
  heartbeatTimeout: durationSchema.optional(),
  defaultTimeout: durationSchema.optional(),
  continueAsNewAfterEvents: z.number().int().min(1).max(10_000_000).optional(),
  localActivities: z.boolean().optional(),
  memory: z
    .looseObject({
      user: z.string().min(1).max(200).optional(),
      thread: z.string().min(1).max(200).optional(),
    })
    .optional(),
  recordedAnswers: z.record(z.string(), z.looseObject({ text: z.string() })).optional(),
});

/** A run's workflow input: `{ definition, input, options?, resume? }` (RunInput). */
export const runInputSchema = z.looseObject(
  {
    definition: definitionSchema,
    input: z.string({ error: 'expected the run input (a string)' }),
    options: runOptionsSchema.optional(),
    resume: z
      .looseObject({
        reuse: z.record(z.string(), z.string()),
        steps: z.array(z.unknown()).optional(),
        loops: z
          .record(z.string(), z.looseObject({ iteration: z.number().int(), previous: z.string().optional() }))
          .optional(),
      })
      .optional(),
  },
  { error: 'expected the run input { definition, input } as a JSON object' },
);

/** One problem of a checked value: where (a field path such as `definition.steps[1].dependsOn[0]`) and what. */
export interface DefinitionIssue {
  path: string;
  message: string;
}

/** `['steps', 1, 'name']` as `steps[1].name`, after `prefix`. */
export function formatIssuePath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Zod issues as path + message, deepest union branch first so the message names the real field. */
export function issuesOf(error: z.ZodError, prefix = ''): DefinitionIssue[] {
  const out: DefinitionIssue[] = [];
  const walk = (issues: z.core.$ZodIssue[], base: PropertyKey[]) => {
    for (const i of issues) {
      const path = [...base, ...i.path];
      if (i.code === 'invalid_union' && i.errors.length) {
        // Report the branch that got furthest: the one whose issues sit deepest.
        const best = [...i.errors].sort(
          (a, b) => Math.max(0, ...b.map((x) => x.path.length)) - Math.max(0, ...a.map((x) => x.path.length)),
        )[0]!;
        if (Math.max(0, ...best.map((x) => x.path.length)) > 0) {
          walk(best, path);
          continue;
        }
      }
      out.push({ path: formatIssuePath(path, prefix) || prefix || '(root)', message: i.message });
    }
  };
  walk(error.issues, []);
  const seen = new Set<string>();
  return out.filter((i) => !seen.has(`${i.path}\n${i.message}`) && seen.add(`${i.path}\n${i.message}`));
}

/** Issues as one line: `steps[0].name: ...; output: ...` (at most 10). */
export function describeIssues(issues: DefinitionIssue[]): string {
  const shown = issues.slice(0, 10).map((i) => `${i.path}: ${i.message}`);
  if (issues.length > 10) shown.push(`and ${issues.length - 10} more`);
  return shown.join('; ');
}

/**
 * Problems that would stop a definition from running, each naming its field; empty when it can run.
 *
 * @example checkDefinition({ name: 'x', steps: [] }) // [{ path: 'steps', message: 'a definition needs at least one step' }]
 */
export function checkDefinition(def: unknown, prefix = ''): DefinitionIssue[] {
  const result = definitionSchema.safeParse(def);
  return result.success ? [] : issuesOf(result.error, prefix);
}

/** Problems of a whole run input (what `temporal workflow start --input` must give); empty when it can run. */
export function checkRunInput(input: unknown): DefinitionIssue[] {
  const result = runInputSchema.safeParse(input);
  return result.success ? [] : issuesOf(result.error);
}

/** The definition, typed, once it passed every check. Throws InvalidDefinitionError naming the fields. */
export function parseDefinition(def: unknown, prefix = ''): EnsembleDefinition {
  const issues = checkDefinition(def, prefix);
  if (issues.length) throw new InvalidDefinitionError(issues);
  return def as EnsembleDefinition;
}

/** A definition (or run input) that failed the schema; `issues` name each field. */
export class InvalidDefinitionError extends Error {
  override name = 'InvalidDefinition';
  constructor(readonly issues: DefinitionIssue[]) {
    super(`the definition cannot run: ${describeIssues(issues)}`);
  }
}
