/**
 * Whether a JSON Schema may be sent to OpenAI with `strict: true`. Strict structured outputs
 * guarantee the reply matches, but OpenAI accepts only a subset of JSON Schema and refuses the
 * request (HTTP 400) otherwise, so a schema outside it is sent with `strict: false` (and checked
 * by Baton after the reply, as always).
 */

/** Keywords OpenAI's strict mode supports (https://platform.openai.com/docs/guides/structured-outputs). */
const SUPPORTED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'anyOf',
  'description',
  'title',
  '$ref',
  '$defs',
  'definitions',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
]);

/** Formats strict mode accepts. */
const FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'uuid',
]);

/** Nesting OpenAI allows (objects and arrays within each other). */
const MAX_DEPTH = 10;
/** Object properties OpenAI allows across the whole schema. */
const MAX_PROPERTIES = 5000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Why `schema` cannot be sent strict, or undefined when it can: the root is an object, every
 * object lists all its properties in `required` and sets `additionalProperties: false`, and only
 * supported keywords and formats appear.
 *
 * @example strictSchemaProblem({ type: 'object', properties: { a: { type: 'string' } } }) // "(root): 'a' is not required"
 */
export function strictSchemaProblem(schema: Record<string, unknown>): string | undefined {
  const { $schema: _drop, ...root } = schema;
  if (root.type !== 'object') return "(root): strict mode needs type 'object' at the root";
  let properties = 0;
  const visit = (s: unknown, at: string, depth: number): string | undefined => {
    if (!isObject(s)) return `${at}: not a schema object`;
    if (depth > MAX_DEPTH) return `${at}: nested deeper than ${MAX_DEPTH}`;
    for (const key of Object.keys(s)) if (!SUPPORTED.has(key)) return `${at}: '${key}' is not supported`;
    if (typeof s.format === 'string' && !FORMATS.has(s.format))
      return `${at}: format '${s.format}' is not supported`;
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.includes('object') || s.properties !== undefined) {
      const props = s.properties ?? {};
      if (!isObject(props)) return `${at}: properties is not an object`;
      if (s.additionalProperties !== false) return `${at}: additionalProperties must be false`;
      const required = Array.isArray(s.required) ? s.required : [];
      properties += Object.keys(props).length;
      for (const [name, sub] of Object.entries(props)) {
        if (!required.includes(name)) return `${at}: '${name}' is not required`;
        const p = visit(sub, at === '(root)' ? name : `${at}.${name}`, depth + 1);
        if (p) return p;
      }
    } else if (s.additionalProperties !== undefined && s.additionalProperties !== false) {
      return `${at}: additionalProperties must be false`;
    }
    if (s.items !== undefined) {
      const p = visit(s.items, `${at}[]`, depth + 1);
      if (p) return p;
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf)) return `${at}: anyOf is not a list`;
      for (const [i, sub] of s.anyOf.entries()) {
        const p = visit(sub, `${at}.anyOf[${i}]`, depth);
        if (p) return p;
      }
    }
    for (const defs of [s.$defs, s.definitions]) {
      if (defs === undefined) continue;
      if (!isObject(defs)) return `${at}: definitions are not an object`;
      for (const [name, sub] of Object.entries(defs)) {
        const p = visit(sub, `${at}.$defs.${name}`, 1);
        if (p) return p;
      }
    }
    return undefined;
  };
  const problem = visit(root, '(root)', 1);
  if (problem) return problem;
  if (properties > MAX_PROPERTIES) return `(root): more than ${MAX_PROPERTIES} properties`;
  return undefined;
}

/**
 * Whether OpenAI can take `schema` with `strict: true`.
 *
 * @example strictSchemaAllowed({ type: 'object', properties: {}, required: [], additionalProperties: false }) // true
 */
export function strictSchemaAllowed(schema: Record<string, unknown>): boolean {
  return strictSchemaProblem(schema) === undefined;
}
