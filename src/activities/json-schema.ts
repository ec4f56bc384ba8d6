/**
 * JSON Schema validation of structured replies, with Ajv. Activities and config only: Ajv
 * compiles schemas into code with `new Function`, which has no place in workflow code.
 */
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { notJsonIssue, parseJsonReply } from '../structured-output';
import type { SchemaIssue, StructuredCheck } from '../types';

// allErrors: the model is told everything wrong at once. strict off: unknown keywords (`x-...`,
// OpenAI's own) are ignored, as providers ignore them. Formats are hints to the model, not checked.
const options = { allErrors: true, strict: false, validateFormats: false, addUsedSchema: false } as const;
// Ajv is loaded on the first schema, not at start: a worker of runs without structured replies never needs it.
let ajv2020: Ajv | undefined;
let ajv07: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 500;

/** Which validator reads a schema: draft-07 when its `$schema` names draft-07 or -06, else 2020-12. */
function validatorFor(schema: Record<string, unknown>): Ajv {
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (/draft-0[67]/.test(dialect)) {
    /** Draft-07 (and -06), for schemas whose `$schema` says so (tuples as `items: [...]`). */
    return (ajv07 ??= new (require('ajv') as typeof import('ajv')).Ajv(options));
  }
  /** Draft 2020-12: the dialect Anthropic documents for tool schemas and zod's toJSONSchema emits. */
  return (ajv2020 ??= new (require('ajv/dist/2020') as typeof import('ajv/dist/2020')).Ajv2020(options));
}

/**
 * Compile a JSON Schema (cached by its text); throws an Error that says what is wrong with it.
 * The dialect is draft 2020-12 unless `$schema` names draft-07; `$schema` itself is not resolved.
 */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    const { $schema: _drop, ...rest } = schema;
    validate = validatorFor(schema).compile(rest);
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(key, validate);
  }
  return validate;
}

/** The problem with a schema that cannot be compiled, or undefined when it can. */
export function schemaProblem(schema: Record<string, unknown>): string | undefined {
  try {
    compileSchema(schema);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** An Ajv instance path (`/items/0/kind`) as a dotted path (`items.0.kind`); `(root)` for the whole. */
function dotted(pointer: string, child?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.length ? parts.join('.') : '(root)';
}

/** One Ajv error in words a model (and a person) can act on. */
export function toIssue(e: ErrorObject): SchemaIssue {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: dotted(e.instancePath, String(p.missingProperty)), message: 'is required but missing' };
    case 'additionalProperties':
      return {
        path: dotted(e.instancePath, String(p.additionalProperty)),
        message: 'is not allowed (not in the schema)',
      };
    case 'enum':
      return {
        path: dotted(e.instancePath),
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return { path: dotted(e.instancePath), message: `must be ${JSON.stringify(p.allowedValue)}` };
    default:
      return { path: dotted(e.instancePath), message: e.message ?? `fails '${e.keyword}'` };
  }
}

/**
 * Check a structured reply against its schema: its JSON (fences and prose around it forgiven)
 * when it fits, else every issue found, each once.
 *
 * @example checkReply({ type: 'object', required: ['kind'] }, '{}') // { valid: false, issues: [{ path: 'kind', ... }] }
 */
export function checkReply(schema: Record<string, unknown>, text: string): StructuredCheck {
  const validate = compileSchema(schema);
  const value = parseJsonReply(text);
  if (value === undefined) return { valid: false, issues: [notJsonIssue()] };
  if (validate(value)) {
    const json = JSON.stringify(value);
    // Keep history small: the JSON is carried apart only when it differs from the reply's text.
    return json === text.trim() ? { valid: true } : { valid: true, json };
  }
  const seen = new Set<string>();
  const issues: SchemaIssue[] = [];
  for (const e of validate.errors ?? []) {
    const issue = toIssue(e);
    const key = `${issue.path}\u0000${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  }
  return { valid: false, issues };
}
