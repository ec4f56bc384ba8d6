import type { Condition } from '../types';

/** Read `ref` (`step` or `step.field.sub`) from step outputs; JSON outputs are looked into. */
export function resolveRef(ref: string, outputs: Record<string, string>): unknown {
  const [step, ...path] = ref.split('.');
  const text = outputs[step!];
  if (text === undefined) return undefined;
  if (path.length === 0) return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function truthy(v: unknown): boolean {
  if (typeof v === 'string') return !['', 'false', 'no', '0', 'null'].includes(v.trim().toLowerCase());
  return Boolean(v);
}

/** Compare loosely by text, so `pass == true` matches a JSON `true` and `"true"` alike. */
const same = (a: unknown, b: unknown) => String(a).trim().toLowerCase() === String(b).trim().toLowerCase();

/** Decide a `when` guard or a loop's `until` against the outputs so far. */
export function evaluateCondition(c: Condition, outputs: Record<string, string>): boolean {
  const v = resolveRef(c.ref, outputs);
  switch (c.op) {
    case 'equals':
      return v !== undefined && same(v, c.value);
    case 'not_equals':
      return v === undefined || !same(v, c.value);
    case 'contains':
      return (
        v !== undefined &&
        (typeof v === 'string' ? v : JSON.stringify(v)).toLowerCase().includes(String(c.value).toLowerCase())
      );
    case 'truthy':
      return truthy(v);
    case 'falsy':
      return !truthy(v);
  }
}

/** Items of a fan-out: a JSON array (strings kept, others as JSON), else one item per non-empty line. */
export function splitItems(output: string): string[] {
  const text = output.trim();
  if (text.startsWith('[') || text.startsWith('{')) {
    try {
      let list: unknown = JSON.parse(text);
      // Structured output wants an object at the root: take its one array field, e.g. {"questions": [...]}.
      if (list && typeof list === 'object' && !Array.isArray(list)) {
        const arrays = Object.values(list).filter(Array.isArray);
        if (arrays.length === 1) list = arrays[0];
      }
      if (Array.isArray(list)) return list.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
    } catch {
      // not JSON after all: fall through to lines
    }
  }
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*(?:[-*]|\d+[.)])\s+/, '').trim())
    .filter((l) => l.length > 0);
}
