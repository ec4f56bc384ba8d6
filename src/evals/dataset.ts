/**
 * Eval datasets (JSONL, one case a line) and the assertions that score a case's output. Pure:
 * no I/O beyond what the caller reads; the model-graded rubric is run by eval.ts.
 */
import { z } from 'zod';
import { checkReply, schemaProblem } from '../activities/json-schema';

const assertionSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('exact'), value: z.string(), trim: z.boolean().optional() }),
    z.strictObject({
      type: z.literal('contains'),
      value: z.string(),
      ignore_case: z.boolean().optional(),
    }),
    z.strictObject({
      type: z.literal('not_contains'),
      value: z.string(),
      ignore_case: z.boolean().optional(),
    }),
    z.strictObject({ type: z.literal('regex'), pattern: z.string(), flags: z.string().optional() }),
    z.strictObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }),
    z.strictObject({
      type: z.literal('range'),
      min: z.number().optional(),
      max: z.number().optional(),
      path: z.string().optional(),
    }),
  ],
  {
    error:
      "expected an assertion with type 'exact', 'contains', 'not_contains', 'regex', 'json_schema' or 'range'",
  },
);

/** One check of an output: exact, contains, not_contains, regex, json_schema or range. */
export type Assertion = z.infer<typeof assertionSchema>;

const rubricSchema = z.union([
  z.string().min(1),
  z.strictObject({ criteria: z.string().min(1), threshold: z.number().min(0).max(1).optional() }),
]);

const caseSchema = z.strictObject({
  id: z.union([z.string().min(1).max(200), z.number()]).optional(),
  input: z.string({ error: 'expected the case input (a string)' }),
  assert: z.array(assertionSchema).optional(),
  rubric: rubricSchema.optional(),
});

/** One eval case: its input, the assertions its output must pass, and an optional rubric for a judge model. */
export interface EvalCase {
  id: string;
  input: string;
  assert: Assertion[];
  rubric?: { criteria: string; threshold: number };
}

/** The result of one assertion or rubric on one output. */
export interface CheckResult {
  type: string;
  pass: boolean;
  /** Why it failed (or the judge's reason). */
  detail?: string;
  /** The judge's score (0..1), for a rubric. */
  score?: number;
}

/** A dataset file that cannot be read as cases; the message names the file, line and field. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

/**
 * Parse a JSONL dataset: one JSON object a line (`{ id?, input, assert?, rubric? }`), blank
 * lines and lines starting with `//` skipped. Throws DatasetError naming `file:line` and the field.
 *
 * @example parseDataset('{"input":"2+2","assert":[{"type":"contains","value":"4"}]}', 'cases.jsonl')
 */
export function parseDataset(text: string, file: string): EvalCase[] {
  const cases: EvalCase[] = [];
  const ids = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('//')) return;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new DatasetError(`${where}: not a JSON object (${(e as Error).message})`);
    }
    const parsed = caseSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      throw new DatasetError(`${where}: ${path ? `${path.slice(1)}: ` : ''}${issue.message}`);
    }
    const c = parsed.data;
    const id = c.id !== undefined ? String(c.id) : String(cases.length + 1);
    if (ids.has(id)) throw new DatasetError(`${where}: id '${id}' is used by an earlier case`);
    ids.add(id);
    (c.assert ?? []).forEach((a, j) => {
      const problem = assertionProblem(a);
      if (problem) throw new DatasetError(`${where}: assert[${j}]: ${problem}`);
    });
    const rubric =
      c.rubric === undefined
        ? undefined
        : typeof c.rubric === 'string'
          ? { criteria: c.rubric, threshold: 0.5 }
          : { criteria: c.rubric.criteria, threshold: c.rubric.threshold ?? 0.5 };
    if (!c.assert?.length && !rubric)
      throw new DatasetError(`${where}: case '${id}' has no 'assert' and no 'rubric': nothing to score`);
    cases.push({ id, input: c.input, assert: c.assert ?? [], ...(rubric && { rubric }) });
  });
  if (cases.length === 0) throw new DatasetError(`${file}: holds no cases (one JSON object a line)`);
  return cases;
}

function assertionProblem(a: Assertion): string | undefined {
  if (a.type === 'regex') {
    try {
      new RegExp(a.pattern, a.flags);
    } catch (e) {
      return `pattern is not a valid regular expression: ${(e as Error).message}`;
    }
  }
  if (a.type === 'json_schema') {
    const p = schemaProblem(a.schema);
    if (p) return `schema is not a valid JSON Schema: ${p}`;
  }
  if (a.type === 'range' && a.min === undefined && a.max === undefined) return 'range needs min, max or both';
  return undefined;
}

const short = (s: string, n = 80) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The number a range assertion reads: the whole output, or a dotted path into its JSON. */
function numberAt(output: string, path?: string): number | undefined {
  let v: unknown = output.trim();
  if (path) {
    try {
      v = JSON.parse(output);
    } catch {
      return undefined;
    }
    for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  }
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/**
 * Score one output with one assertion.
 *
 * @example checkAssertion('The answer is 4', { type: 'contains', value: '4' }) // { type: 'contains', pass: true }
 */
export function checkAssertion(output: string, a: Assertion): CheckResult {
  const fail = (detail: string): CheckResult => ({ type: a.type, pass: false, detail });
  const ok: CheckResult = { type: a.type, pass: true };
  switch (a.type) {
    case 'exact': {
      const got = a.trim === false ? output : output.trim();
      const want = a.trim === false ? a.value : a.value.trim();
      return got === want ? ok : fail(`expected exactly ${JSON.stringify(short(want))}`);
    }
    case 'contains':
    case 'not_contains': {
      const hay = a.ignore_case ? output.toLowerCase() : output;
      const has = hay.includes(a.ignore_case ? a.value.toLowerCase() : a.value);
      if (a.type === 'contains') return has ? ok : fail(`does not contain ${JSON.stringify(a.value)}`);
      return has ? fail(`contains ${JSON.stringify(a.value)}`) : ok;
    }
    case 'regex':
      return new RegExp(a.pattern, a.flags).test(output)
        ? ok
        : fail(`does not match /${a.pattern}/${a.flags ?? ''}`);
    case 'json_schema': {
      const check = checkReply(a.schema, output);
      if (check.valid) return ok;
      return fail(check.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    }
    case 'range': {
      const n = numberAt(output, a.path);
      const what = a.path ? `'${a.path}'` : 'the output';
      if (n === undefined) return fail(`${what} is not a number`);
      if (a.min !== undefined && n < a.min) return fail(`${what} is ${n}, below ${a.min}`);
      if (a.max !== undefined && n > a.max) return fail(`${what} is ${n}, above ${a.max}`);
      return ok;
    }
  }
}
