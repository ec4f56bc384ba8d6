/**
 * The few schema shapes Baton's own patterns ask models for (objects of strings, numbers,
 * booleans, enums and arrays), written by hand so that zod stays out of the workflow bundle: a
 * smaller bundle is less memory per cached run. Each shape answers `toJSONSchema()` (the JSON
 * Schema zod would give) and `safeParse()` (with zod's issue paths and messages), so the pattern
 * helpers take these and zod schemas alike.
 */

/** One way a value misses a shape, as zod reports it. */
export interface ShapeIssue {
  path: (string | number)[];
  message: string;
}

/** A value checked against a shape: the value (unknown keys dropped), or what is wrong. */
export type ShapeResult<T> = { success: true; data: T } | { success: false; error: { issues: ShapeIssue[] } };

/** What the pattern helpers need of a schema: zod schemas and these shapes both have it. */
export interface StructuredSchema<T> {
  safeParse(value: unknown): {
    success: boolean;
    data?: T;
    error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
  };
  toJSONSchema(params?: { unrepresentable?: 'any' | 'throw' }): unknown;
}

/** A hand-written schema shape. */
export interface Shape<T> extends StructuredSchema<T> {
  /** The type it describes (for `Infer`); never set. */
  readonly _type?: T;
  describe(description: string): Shape<T>;
  safeParse(value: unknown): ShapeResult<T>;
  toJSONSchema(): Record<string, unknown>;
  /** Issues of `value` at `path` (empty when it fits) and the value kept. */
  check(value: unknown, path: (string | number)[], issues: ShapeIssue[]): T;
}

/** The type a shape describes. */
export type Infer<S> = S extends Shape<infer T> ? T : never;

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  return typeof v;
}

function shape<T>(
  json: () => Record<string, unknown>,
  check: (value: unknown, path: (string | number)[], issues: ShapeIssue[]) => T,
  description?: string,
): Shape<T> {
  const self: Shape<T> = {
    describe: (d) => shape(json, check, d),
    toJSONSchema: () => ({ ...json(), ...(description !== undefined && { description }) }),
    check,
    safeParse(value) {
      const issues: ShapeIssue[] = [];
      const data = check(value, [], issues);
      return issues.length ? { success: false, error: { issues } } : { success: true, data };
    },
  };
  return self;
}

const expected = (type: string) => (v: unknown, path: (string | number)[], issues: ShapeIssue[]) =>
  issues.push({ path, message: `Invalid input: expected ${type}, received ${kindOf(v)}` });

/** A string. */
export function string(): Shape<string> {
  return shape(
    () => ({ type: 'string' }),
    (v, path, issues) => {
      if (typeof v !== 'string') expected('string')(v, path, issues);
      return v as string;
    },
  );
}

/** A finite number. */
export function number(): Shape<number> {
  return shape(
    () => ({ type: 'number' }),
    (v, path, issues) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) expected('number')(v, path, issues);
      return v as number;
    },
  );
}

/** A boolean. */
export function boolean(): Shape<boolean> {
  return shape(
    () => ({ type: 'boolean' }),
    (v, path, issues) => {
      if (typeof v !== 'boolean') expected('boolean')(v, path, issues);
      return v as boolean;
    },
  );
}

/** One of these strings. */
export function enumOf<const T extends string>(values: readonly T[]): Shape<T> {
  return shape(
    () => ({ type: 'string', enum: [...values] }),
    (v, path, issues) => {
      if (!values.includes(v as T))
        issues.push({
          path,
          message: `Invalid option: expected one of ${values.map((x) => JSON.stringify(x)).join('|')}`,
        });
      return v as T;
    },
  );
}

/** An array of `item`, with at least `min` items. */
export function array<T>(item: Shape<T>, min?: number): Shape<T[]> {
  return shape(
    () => ({ ...(min !== undefined && { minItems: min }), type: 'array', items: item.toJSONSchema() }),
    (v, path, issues) => {
      if (!Array.isArray(v)) {
        expected('array')(v, path, issues);
        return v as T[];
      }
      const out = v.map((x, i) => item.check(x, [...path, i], issues));
      if (min !== undefined && v.length < min)
        issues.push({ path, message: `Too small: expected array to have >=${min} items` });
      return out;
    },
  );
}

/** An object with exactly these keys (all required; other keys are dropped). */
export function object<P extends Record<string, Shape<unknown>>>(
  props: P,
): Shape<{ [K in keyof P]: Infer<P[K]> }> {
  type T = { [K in keyof P]: Infer<P[K]> };
  return shape(
    () => ({
      type: 'object',
      properties: Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.toJSONSchema()])),
      required: Object.keys(props),
      additionalProperties: false,
    }),
    (v, path, issues) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        expected('object')(v, path, issues);
        return v as T;
      }
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(props))
        out[k] = s.check((v as Record<string, unknown>)[k], [...path, k], issues);
      return out as T;
    },
  );
}
