/**
 * Zod schema of ensemble and config YAML as users write it (snake_case). It checks shape only;
 * graph rules (dependencies, cycles, templates, profiles) live in checks.ts, which runs on what
 * this schema outputs.
 */
import { z } from 'zod';
import type { Condition } from '../types';
import { schemaProblem } from '../activities/json-schema';
import { RESERVED_REF_NAMES } from '../workflows/template';
import { durationSchema, pricingSchema, profileSchema, providerSchema } from './profiles';

/** Step names: usable in `{{NAME}}` and in condition refs, so no dots or spaces. */
export const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const PROFILE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_./-]{1,128})?$/; // a registered tool, or `<mcp server>.<tool>`
const RESOURCE_NAME = /^[A-Za-z0-9_-]{1,64}$/; // scripts and MCP servers, as the worker config names them
const REF = /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

const stepName = z
  .string()
  .regex(STEP_NAME, {
    message: 'a step name starts with a letter and holds only letters, digits, - and _ (at most 64)',
  })
  .refine((n) => !RESERVED_REF_NAMES.includes(n), {
    message: `'input', 'item', 'loop' and 'steps' are reserved in templates; pick another step name`,
  });

const profileName = z.string().regex(PROFILE_NAME, {
  message: 'a profile name starts with a letter and holds only letters, digits, ., - and _',
});

const toolName = z.string().regex(TOOL_NAME, {
  message:
    "a tool name holds only letters, digits, - and _ (at most 64); an MCP server's tool is '<server>.<tool>'",
});

// ---------------------------------------------------------------------------------------------
// Conditions (`when`, `until`)
// ---------------------------------------------------------------------------------------------

/**
 * Parse the string form of a condition, or return why it is not one.
 * @example parseCondition('triage.category == billing') // { ref: 'triage.category', op: 'equals', value: 'billing' }
 */
export function parseCondition(text: string): Condition | string {
  const s = text.trim();
  const form = `write 'step.field == value', '!= value', 'contains value', 'step.field' (truthy) or '!step.field'`;
  let m = /^!\s*(\S+)$/.exec(s);
  if (m) return checkRef(m[1]!, form) ?? { ref: stripSteps(m[1]!), op: 'falsy' };
  m = /^(\S+?)\s*(==|!=)\s*(.*)$/.exec(s) ?? /^(\S+)\s+(contains)\s+(.*)$/.exec(s);
  if (m) {
    const [, ref, operator, rawValue] = m as unknown as [string, string, string, string];
    const bad = checkRef(ref, form);
    if (bad) return bad;
    if (rawValue.trim() === '') return `condition '${s}' has no value after '${operator}'`;
    const op = operator === '==' ? 'equals' : operator === '!=' ? 'not_equals' : 'contains';
    return { ref: stripSteps(ref), op, value: conditionValue(rawValue.trim()) };
  }
  if (REF.test(s)) return { ref: stripSteps(s), op: 'truthy' };
  return `cannot read condition '${s}': ${form}`;
}

function checkRef(ref: string, form: string): string | undefined {
  return REF.test(ref) ? undefined : `'${ref}' is not a step reference: ${form}`;
}

/** `steps.triage.x` and `triage.x` mean the same step, as in templates. */
function stripSteps(ref: string): string {
  return ref.startsWith('steps.') ? ref.slice('steps.'.length) : ref;
}

function conditionValue(raw: string): string | number | boolean {
  const quoted = /^"(.*)"$|^'(.*)'$/.exec(raw);
  if (quoted) return quoted[1] ?? quoted[2] ?? '';
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^-?\d+(\.\d+)?$/.test(raw) && Number.isFinite(Number(raw))) return Number(raw);
  return raw;
}

const scalarValue = z.union([z.string(), z.number(), z.boolean()], {
  error: 'expected a string, number or boolean to compare with',
});

const conditionObjectShape = {
  ref: z.string().regex(REF, { message: "expected a step reference such as 'triage' or 'triage.category'" }),
  equals: scalarValue.optional(),
  not_equals: scalarValue.optional(),
  contains: z.union([z.string(), z.number()]).optional(),
  truthy: z.boolean().optional(),
  falsy: z.boolean().optional(),
};

const conditionObject = z
  .object(conditionObjectShape)
  .strict()
  .transform((c, ctx): Condition => {
    const ops = (['equals', 'not_equals', 'contains', 'truthy', 'falsy'] as const).filter(
      (k) => c[k] !== undefined,
    );
    if (ops.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a condition takes exactly one of equals, not_equals, contains, truthy, falsy (found ${ops.length ? ops.join(', ') : 'none'})`,
      });
      return z.NEVER;
    }
    const op = ops[0]!;
    const ref = stripSteps(c.ref);
    if (op === 'truthy' || op === 'falsy') {
      const holds = c[op] === true;
      return { ref, op: holds === (op === 'truthy') ? 'truthy' : 'falsy' };
    }
    return { ref, op, value: c[op] as string | number | boolean };
  });

const conditionString = z.string().transform((s, ctx): Condition => {
  const parsed = parseCondition(s);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
});

/** `when` / `until`: a string such as `"triage.category == billing"` or `{ ref, equals }`. */
export const conditionSchema = z.union([conditionString, conditionObject], {
  error: "expected a condition: 'step.field == value' or { ref: step.field, equals: value }",
});

// ---------------------------------------------------------------------------------------------
// Step parts
// ---------------------------------------------------------------------------------------------

const dependsOn = z.array(z.string(), { error: 'expected a list of step names, e.g. [draft]' });

const retryShape = {
  max_attempts: z.number().int().min(1).max(100).optional(),
  initial_interval: durationSchema.optional(),
  backoff: z.number().min(1).max(100).optional(),
  max_interval: durationSchema.optional(),
};
const retrySchema = z.object(retryShape).strict();

const toolShape = {
  name: toolName,
  requires_approval: z.boolean().optional(),
  idempotent: z.boolean().optional(),
};
const toolSchema = z.union([toolName, z.object(toolShape).strict()], {
  error: 'expected a tool name, or { name, requires_approval, idempotent }',
});

const batchShape = {
  size: z.number().int().min(1).max(1000),
  flush_ms: z.number().int().min(0).max(3_600_000).optional(),
};
const shardShape = {
  size: z.number().int().min(1).max(100_000),
};
const fanOutShape = {
  max_concurrency: z.number().int().min(1).max(10_000).optional(),
  batch: z.object(batchShape, { error: 'expected { size: N, flush_ms?: M }' }).strict().optional(),
  shard: z
    .union([z.literal(false), z.object(shardShape).strict()], { error: 'expected { size: N }, or false' })
    .optional(),
};
const fanOutSchema = z.union([z.boolean(), z.object(fanOutShape).strict()], {
  error: 'expected true, or { max_concurrency: N, batch: { size: N, flush_ms: M } }',
});

/** A JSON Schema as YAML gives it: only JSON values (no binary, sets, infinities), not absurdly deep. */
const jsonSchemaObject = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const problem = notPlainJson(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `output_schema must be plain JSON: ${problem}` });
  const type = value['type'];
  if (type !== undefined && typeof type !== 'string' && !Array.isArray(type)) {
    ctx.addIssue({ code: 'custom', path: ['type'], message: "expected a JSON Schema type such as 'object'" });
    return;
  }
  // Replies are checked against it, so it must be a schema a validator can compile.
  const invalid = problem ? undefined : schemaProblem(value);
  if (invalid)
    ctx.addIssue({ code: 'custom', message: `output_schema is not a valid JSON Schema: ${invalid}` });
});

const MAX_JSON_DEPTH = 64;

/** Why a value is not plain JSON, or undefined. Iterative, so hostile nesting cannot blow the stack. */
function notPlainJson(root: unknown): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  while (stack.length) {
    const { value, depth } = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) return `nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return `${value} is not a JSON number`;
      continue;
    }
    if (Array.isArray(value)) {
      for (const v of value) stack.push({ value: v, depth: depth + 1 });
      continue;
    }
    if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      for (const v of Object.values(value)) stack.push({ value: v, depth: depth + 1 });
      continue;
    }
    return `found a ${value?.constructor?.name ?? typeof value} value`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

const commonShape = {
  name: stepName,
  description: z.string().optional(),
  depends_on: dependsOn.optional(),
  when: conditionSchema.optional(),
  /** Read one key of the first depends_on step's JSON output instead of all of it. */
  input_key: z.string().min(1).max(200).optional(),
};

const agentShape = {
  kind: z.literal('agent'),
  ...commonShape,
  model_profile: profileName.optional(),
  // An inline model instead of a profile (provider + model), with the profile fields that go with it.
  provider: providerSchema.optional(),
  model: z.string().min(1).optional(),
  base_url: profileSchema.shape.base_url,
  api_key_env: profileSchema.shape.api_key_env,
  pricing: pricingSchema.optional(),
  // Overrides that apply to the profile in use, whichever way it was chosen.
  temperature: profileSchema.shape.temperature,
  max_tokens: profileSchema.shape.max_tokens,
  // Replaces the profile's own fallback_profiles for this step ([] for none).
  fallback_profiles: z.array(profileName).max(10, { message: 'at most 10 fallback profiles' }).optional(),
  system_prompt: z.string().optional(),
  prompt: z.string().optional(),
  fan_out: fanOutSchema.optional(),
  timeout: durationSchema.optional(),
  retry: retrySchema.optional(),
  tools: z.array(toolSchema).optional(),
  max_iterations: z.number().int().min(1).max(1000).optional(),
  output_schema: jsonSchemaObject.optional(),
  output_repairs: z.number().int().min(0).max(10).optional(),
  // Long-term memory (docs/memory.md).
  recall: z
    .object({
      query: z.string().optional(),
      top_k: z.number().int().min(1).max(100).optional(),
      scope: z.enum(['namespace', 'user', 'thread']).optional(),
      namespace: z.string().min(1).max(200).optional(),
    })
    .strict()
    .optional(),
  remember: z
    .union([z.literal(true), z.object({ namespace: z.string().min(1).max(200).optional() }).strict()])
    .optional(),
  // Short-term memory of a tool-using agent.
  memory: z
    .object({
      max_context_tokens: z.number().int().min(100).max(10_000_000),
      keep_recent: z.number().int().min(1).max(1000).optional(),
    })
    .strict()
    .optional(),
};

const agentSchema = z
  .object(agentShape)
  .strict()
  .superRefine((a, ctx) => {
    if (a.model_profile !== undefined && (a.provider !== undefined || a.model !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [a.provider !== undefined ? 'provider' : 'model'],
        message: 'set either model_profile or provider + model, not both',
      });
    } else if (a.provider !== undefined && a.model === undefined) {
      ctx.addIssue({ code: 'custom', path: ['provider'], message: 'an inline provider needs a model too' });
    } else if (a.model !== undefined && a.provider === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'an inline model needs a provider too' });
    }
    if (a.output_repairs !== undefined && a.output_schema === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['output_repairs'],
        message:
          'output_repairs says how often a reply that misses output_schema is asked for again; set output_schema too',
      });
    }
    for (const key of ['base_url', 'api_key_env', 'pricing'] as const) {
      if (a[key] !== undefined && a.provider === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} goes with an inline provider + model; for a named profile, set it in the profile`,
        });
      }
    }
  });

const approvalShape = {
  kind: z.literal('approval'),
  ...commonShape,
  present: z.string().optional(),
  deadline: durationSchema,
  on_timeout: z.enum(['reject', 'approve', 'escalate']).optional(),
  escalation_deadline: durationSchema.optional(),
};
const approvalSchema = z.object(approvalShape).strict();

const scriptShape = {
  kind: z.literal('script'),
  ...commonShape,
  command: z.string().regex(RESOURCE_NAME, {
    message: "expected the name of a script in the worker's config (letters, digits, - and _)",
  }),
  args: z.array(z.string()).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  input: z.string().optional(),
  output_format: z.enum(['text', 'json']).optional(),
  timeout_seconds: z
    .number()
    .positive()
    .max(7 * 24 * 3600)
    .optional(),
  timeout: durationSchema.optional(),
  retry: retrySchema.optional(),
  idempotent: z.boolean().optional(),
};
const scriptSchema = z
  .object(scriptShape)
  .strict()
  .superRefine((sc, ctx) => {
    if (sc.timeout !== undefined && sc.timeout_seconds !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['timeout_seconds'],
        message: 'set timeout or timeout_seconds, not both',
      });
  });

/** `mcp_servers:` entries: a stdio command (argv) with optional env, or a streamable HTTP URL. */
const mcpServerSchema = z.union(
  [
    z
      .object({
        command: z.array(z.string().min(1)).min(1, { message: 'a command needs at least the program' }),
        env: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    z
      .object({
        url: z.string().regex(/^https?:\/\/[^\s/?#@]+(\/[^\s?#]*)?$/, { message: 'expected an http(s) URL' }),
      })
      .strict(),
  ],
  {
    error:
      'expected an MCP server: { command: [program, arg, ...], env?: {...} } or { url: "https://host/mcp" }',
  },
);

/** A body entry that is itself a loop: refused, with a message that says what to do instead. */
const nestedLoop = z.looseObject({ kind: z.literal('loop') }).transform((_, ctx) => {
  ctx.addIssue({
    code: 'custom',
    path: ['kind'],
    message: 'a loop cannot sit inside a loop body; move the inner loop to its own top-level step',
  });
  return z.NEVER;
});

/** A step that runs another ensemble (by name, found next to this file or in the config directories). */
const ensembleStepShape = {
  kind: z.literal('ensemble'),
  ...commonShape,
  ensemble: z
    .string({ error: 'expected the name of an ensemble' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,255}$/, {
      message: 'expected an ensemble name (or a path relative to this file)',
    }),
  prompt: z.string().optional(),
  fan_out: fanOutSchema.optional(),
};
const ensembleStepSchema = z.object(ensembleStepShape).strict();

/** Steps without `kind` are agents, the common case; with `ensemble:`, they run that ensemble. */
function withDefaultKind(v: unknown): unknown {
  if (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    (v as { kind?: unknown }).kind === undefined
  ) {
    return { ...(v as object), kind: 'ensemble' in v ? 'ensemble' : 'agent' };
  }
  return v;
}

const bodyStepSchema = z.preprocess(
  withDefaultKind,
  z.discriminatedUnion('kind', [agentSchema, approvalSchema, scriptSchema, nestedLoop]),
);

const loopShape = {
  kind: z.literal('loop'),
  ...commonShape,
  max_iterations: z.number().int().min(1).max(1000),
  until: conditionSchema,
  body: z.array(bodyStepSchema).min(1, { message: 'a loop needs at least one body step' }),
};
const loopSchema = z.object(loopShape).strict();

const stepSchema = z.preprocess(
  withDefaultKind,
  z.discriminatedUnion('kind', [agentSchema, approvalSchema, loopSchema, ensembleStepSchema, scriptSchema]),
);

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

const budgetShape = {
  max_cost_usd: z.number().positive().optional(),
  max_tokens: z.number().int().positive().optional(),
  gate_deadline: durationSchema.optional(),
  on_exceeded: z.enum(['wait', 'fail']).optional(),
};

const ensembleShape = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, {
    message: 'an ensemble name holds only letters, digits, ., - and _',
  }),
  description: z.string().optional(),
  default_profile: profileName.optional(),
  budget: z.object(budgetShape).strict().optional(),
  memory: z
    .object({ namespace: z.string().min(1).max(200).optional(), embedding_profile: profileName })
    .strict()
    .optional(),
  output: z.string().optional(),
  /** The run's input when it is started with none (llm-orc's default_task). */
  default_input: z.string().optional(),
  profiles: z.record(profileName, profileSchema).optional(),
  mcp_servers: z
    .record(
      z.string().regex(RESOURCE_NAME, { message: 'an MCP server name holds only letters, digits, - and _' }),
      mcpServerSchema,
    )
    .optional(),
  agents: z.array(stepSchema).min(1, { message: 'an ensemble needs at least one step' }).optional(),
  steps: z.array(stepSchema).min(1, { message: 'an ensemble needs at least one step' }).optional(),
};

/** The whole ensemble file. `steps:` is a synonym of `agents:`; exactly one of them is required. */
export const ensembleSchema = z
  .object(ensembleShape)
  .strict()
  .superRefine((e, ctx) => {
    if (e.agents === undefined && e.steps === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['agents'],
        message: "missing required field 'agents' (the list of steps)",
      });
    } else if (e.agents !== undefined && e.steps !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: "use either 'agents' or 'steps', not both" });
    }
  });

/** `config.yaml` in `.baton/` or `~/.config/baton/`. */
export const configSchema = z
  .object({
    profiles: z.record(profileName, profileSchema).optional(),
    default_profile: profileName.optional(),
  })
  .strict();

export type EnsembleConfig = z.output<typeof ensembleSchema>;
export type StepConfig = z.output<typeof stepSchema>;
export type AgentConfig = z.output<typeof agentSchema>;
export type ApprovalConfig = z.output<typeof approvalSchema>;
export type LoopConfig = z.output<typeof loopSchema>;
export type EnsembleStepConfig = z.output<typeof ensembleStepSchema>;
export type ScriptConfig = z.output<typeof scriptSchema>;
export type BodyStepConfig = AgentConfig | ApprovalConfig | ScriptConfig;
export type ConfigFile = z.output<typeof configSchema>;

// ---------------------------------------------------------------------------------------------
// Field names by place, for "unknown field ... did you mean" messages
// ---------------------------------------------------------------------------------------------

const keys = (shape: object) => Object.keys(shape);
const STEP_FIELDS: Record<string, string[]> = {
  agent: keys(agentShape),
  approval: keys(approvalShape),
  loop: keys(loopShape),
  ensemble: keys(ensembleStepShape),
  script: keys(scriptShape),
};
const PROFILE_FIELDS = keys(profileSchema.shape);
const PRICING_FIELDS = keys(pricingSchema.shape);

type Place =
  | 'ensemble'
  | 'config'
  | 'profiles'
  | 'profile'
  | 'pricing'
  | 'budget'
  | 'steps'
  | 'step'
  | 'retry'
  | 'tools'
  | 'tool'
  | 'condition'
  | 'fan_out'
  | 'batch'
  | 'shard'
  | 'free';

const PLACE_FIELDS: Partial<Record<Place, string[]>> = {
  ensemble: keys(ensembleShape),
  config: keys(configSchema.shape),
  profile: PROFILE_FIELDS,
  pricing: PRICING_FIELDS,
  budget: keys(budgetShape),
  retry: keys(retryShape),
  tool: keys(toolShape),
  condition: keys(conditionObjectShape),
  fan_out: keys(fanOutShape),
  batch: keys(batchShape),
  shard: keys(shardShape),
};

/** What the fields of the mapping at `path` are, given the parsed YAML. */
export interface FieldsAt {
  /** E.g. `an agent step`, `retry`. */
  what: string;
  fields: string[];
  /** For a step: fields that belong to the other kinds, and which kind. */
  otherKinds?: Record<string, string>;
}

/**
 * Known field names of the mapping at `path` in a file (`root` is the parsed YAML), so an unknown
 * key can be answered with the closest known one.
 */
export function knownFieldsAt(
  path: readonly PropertyKey[],
  root: unknown,
  file: 'ensemble' | 'config',
): FieldsAt | undefined {
  let place: Place = file;
  let node: unknown = root;
  for (const seg of path) {
    node =
      node !== null && typeof node === 'object'
        ? (node as Record<PropertyKey, unknown>)[seg as string]
        : undefined;
    place = nextPlace(place, seg);
  }
  if (place === 'step') {
    const raw = (node as { kind?: unknown } | undefined)?.kind ?? 'agent';
    if (typeof raw !== 'string' || !Object.prototype.hasOwnProperty.call(STEP_FIELDS, raw)) return undefined;
    const kind = raw;
    const fields = STEP_FIELDS[kind]!;
    const otherKinds: Record<string, string> = {};
    for (const [other, otherFields] of Object.entries(STEP_FIELDS)) {
      if (other === kind) continue;
      for (const f of otherFields) if (!fields.includes(f)) otherKinds[f] ??= other;
    }
    return {
      what: `${kind === 'agent' || kind === 'approval' ? 'an' : 'a'} ${kind} step`,
      fields,
      otherKinds,
    };
  }
  const fields = PLACE_FIELDS[place];
  const names: Partial<Record<Place, string>> = {
    ensemble: 'an ensemble',
    config: 'a config file',
    condition: 'a condition',
    batch: 'a fan_out batch',
    shard: 'a fan_out shard',
  };
  return fields ? { what: names[place] ?? place, fields } : undefined;
}

function nextPlace(place: Place, seg: PropertyKey): Place {
  switch (place) {
    case 'ensemble':
    case 'config':
      if (seg === 'profiles') return 'profiles';
      if (seg === 'budget') return 'budget';
      if (seg === 'agents' || seg === 'steps') return 'steps';
      return 'free';
    case 'profiles':
      return 'profile';
    case 'profile':
      return seg === 'pricing' ? 'pricing' : 'free';
    case 'steps':
      return typeof seg === 'number' ? 'step' : 'free';
    case 'step':
      if (seg === 'retry') return 'retry';
      if (seg === 'tools') return 'tools';
      if (seg === 'when' || seg === 'until') return 'condition';
      if (seg === 'fan_out') return 'fan_out';
      if (seg === 'body') return 'steps';
      return seg === 'pricing' ? 'pricing' : 'free';
    case 'tools':
      return typeof seg === 'number' ? 'tool' : 'free';
    case 'fan_out':
      return seg === 'batch' ? 'batch' : seg === 'shard' ? 'shard' : 'free';
    default:
      return 'free';
  }
}
