/**
 * Prompt templates: `{{input}}`, `{{steps.NAME}}` / `{{NAME}}`, `{{steps.NAME.field}}`, `{{item}}`,
 * `{{loop.iteration}}`, `{{loop.previous}}`, and in a fan-out instance `{{chunk_index}}` (0-based)
 * and `{{total_chunks}}` (llm-orc's names; `{{steps.chunk_index}}` still reads a step so named). Pure and deterministic, because the ensemble
 * interpreter renders prompts inside workflow code; the config loader parses the same templates
 * to refuse bad references before a run starts, so both sides agree on one grammar.
 *
 * Write `\{{` for a literal `{{`.
 */

/** One placeholder of a template, as `templateRefs` reports it. */
export interface TemplateRef {
  kind: 'input' | 'step' | 'item' | 'loop' | 'chunk';
  /** Step name for `step`; `iteration` or `previous` for `loop`; `chunk_index` or `total_chunks` for `chunk`. */
  name?: string;
  /** Dotted JSON field path after the name, e.g. `['category']` for `{{steps.triage.category}}`. */
  path?: string[];
}

/** Values a template is rendered with. `steps` maps step names to their output text. */
export interface TemplateScope {
  input: string;
  steps: Record<string, string>;
  item?: string;
  loop?: { iteration: number; previous?: string };
  /** In a fan-out instance: its place among the items (`{{chunk_index}}`, `{{total_chunks}}`). */
  chunk?: { index: number; total: number };
}

/** A malformed placeholder, or a reference the scope cannot satisfy. */
export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    message: string,
    /** The placeholder as written, e.g. `{{steps.nope}}`. */
    readonly placeholder: string,
  ) {
    super(message);
  }
}

/** Names a template treats specially; a step may not take one of them. */
export const RESERVED_REF_NAMES: readonly string[] = ['input', 'item', 'loop', 'steps'];

const REF_SYNTAX = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

type Piece = { text: string } | { ref: TemplateRef; raw: string };

/**
 * Split a template into literal text and parsed placeholders. Bad syntax throws a TemplateError,
 * or, given `errors`, is collected there and skipped so every problem can be reported at once.
 */
function parse(template: string, errors?: TemplateError[]): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    if (open < 0) {
      text += template.slice(i);
      break;
    }
    if (open > 0 && template[open - 1] === '\\') {
      text += template.slice(i, open - 1) + '{{';
      i = open + 2;
      continue;
    }
    text += template.slice(i, open);
    const close = template.indexOf('}}', open + 2);
    if (close < 0) {
      const shown = template.slice(open, open + 20);
      const error = new TemplateError(
        `unclosed placeholder '${shown}': add '}}', or write '\\{{' for a literal '{{'`,
        shown,
      );
      if (!errors) throw error;
      errors.push(error);
      break;
    }
    const raw = template.slice(open, close + 2);
    if (text) pieces.push({ text });
    text = '';
    try {
      pieces.push({ ref: parseRef(raw.slice(2, -2).trim(), raw), raw });
    } catch (e) {
      if (!errors || !(e instanceof TemplateError)) throw e;
      errors.push(e);
    }
    i = close + 2;
  }
  if (text) pieces.push({ text });
  return pieces;
}

function parseRef(body: string, raw: string): TemplateRef {
  if (!REF_SYNTAX.test(body)) {
    throw new TemplateError(
      `invalid placeholder '${raw}': expected {{input}}, {{steps.NAME}}, {{NAME.field}}, {{item}} or {{loop.iteration}}`,
      raw,
    );
  }
  const [head, ...rest] = body.split('.');
  const withPath = (ref: TemplateRef, path: string[]): TemplateRef => (path.length ? { ...ref, path } : ref);
  switch (head) {
    case 'input':
      return withPath({ kind: 'input' }, rest);
    case 'item':
      return withPath({ kind: 'item' }, rest);
    case 'loop': {
      const [name, ...path] = rest;
      if (name === 'iteration' && path.length === 0) return { kind: 'loop', name };
      if (name === 'previous') return withPath({ kind: 'loop', name }, path);
      throw new TemplateError(
        `invalid placeholder '${raw}': a loop offers {{loop.iteration}} and {{loop.previous}}`,
        raw,
      );
    }
    case 'steps': {
      const [name, ...path] = rest;
      if (!name)
        throw new TemplateError(`invalid placeholder '${raw}': name the step, as in {{steps.NAME}}`, raw);
      return withPath({ kind: 'step', name }, path);
    }
    case 'chunk_index':
    case 'total_chunks':
      if (rest.length === 0) return { kind: 'chunk', name: head };
      return withPath({ kind: 'step', name: head }, rest);
    default:
      return withPath({ kind: 'step', name: head }, rest);
  }
}

/**
 * The placeholders of a template, in order of appearance; throws TemplateError on bad syntax.
 * @example templateRefs('Fix {{steps.review.issues}} in {{input}}')
 *   // [{ kind: 'step', name: 'review', path: ['issues'] }, { kind: 'input' }]
 */
export function templateRefs(template: string): TemplateRef[] {
  const refs: TemplateRef[] = [];
  for (const piece of parse(template)) if ('ref' in piece) refs.push(piece.ref);
  return refs;
}

/** Placeholders and syntax errors of a template, without throwing: for reporting every problem at once. */
export function scanTemplate(template: string): { refs: TemplateRef[]; errors: TemplateError[] } {
  const errors: TemplateError[] = [];
  const refs: TemplateRef[] = [];
  for (const piece of parse(template, errors)) if ('ref' in piece) refs.push(piece.ref);
  return { refs, errors };
}

/**
 * Fill a template from a scope; a reference the scope lacks throws a TemplateError naming it.
 * `{{loop.previous}}` is empty on a loop's first iteration, since nothing came before.
 * @example renderTemplate('Review:\n{{input}}', { input: 'x = 1', steps: {} }) // 'Review:\nx = 1'
 */
export function renderTemplate(template: string, scope: TemplateScope): string {
  let out = '';
  for (const piece of parse(template))
    out += 'text' in piece ? piece.text : value(piece.ref, piece.raw, scope);
  return out;
}

function value(ref: TemplateRef, raw: string, scope: TemplateScope): string {
  switch (ref.kind) {
    case 'input':
      return field(scope.input, ref.path, raw, 'the input');
    case 'item':
      if (scope.item === undefined)
        throw new TemplateError(`${raw}: there is no item here (only a fan_out step has one)`, raw);
      return field(scope.item, ref.path, raw, 'the item');
    case 'chunk':
      if (!scope.chunk)
        throw new TemplateError(`${raw}: only a fan_out step's instances have a chunk number`, raw);
      return String(ref.name === 'chunk_index' ? scope.chunk.index : scope.chunk.total);
    case 'loop':
      if (!scope.loop) throw new TemplateError(`${raw}: not inside a loop body`, raw);
      if (ref.name === 'iteration') return String(scope.loop.iteration);
      return scope.loop.previous === undefined
        ? ''
        : field(scope.loop.previous, ref.path, raw, 'the previous iteration');
    case 'step': {
      const name = ref.name as string;
      if (!Object.prototype.hasOwnProperty.call(scope.steps, name)) {
        throw new TemplateError(`${raw}: step '${name}' has no output here`, raw);
      }
      return field(scope.steps[name] as string, ref.path, raw, `step '${name}'`);
    }
  }
}

/** Read a dotted field of a JSON text; without a path, the text itself. */
function field(text: string, path: string[] | undefined, raw: string, what: string): string {
  if (!path || path.length === 0) return text;
  // A skipped step has empty output; its fields read as empty too, as its whole output does.
  if (text === '') return '';
  let current: unknown;
  try {
    current = JSON.parse(text);
  } catch {
    throw new TemplateError(
      `${raw}: the output of ${what} is not JSON, so it has no field '${path.join('.')}'`,
      raw,
    );
  }
  for (const key of path) {
    if (
      current === null ||
      typeof current !== 'object' ||
      !Object.prototype.hasOwnProperty.call(current, key)
    ) {
      throw new TemplateError(`${raw}: the output of ${what} has no field '${path.join('.')}'`, raw);
    }
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === 'string' ? current : JSON.stringify(current);
}
