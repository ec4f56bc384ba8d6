/**
 * The one error a bad ensemble or config file produces. It carries every problem found, each with
 * file, line, field path and a message, so a user fixes them all in one pass instead of one per run.
 */

/** One problem in an ensemble or config file. */
export interface EnsembleIssue {
  file: string;
  /** 1-based line of the offending node (or the nearest enclosing one that exists). */
  line?: number;
  /** 1-based column. */
  column?: number;
  /** Field path as written in the YAML, e.g. `agents[2].depends_on[0]`; empty for YAML syntax errors. */
  path: string;
  message: string;
}

const DEFAULT_HINT = 'Fix the fields named above and load the file again; nothing has run.';

/** An ensemble or config file refused before any run starts; `issues` lists every problem found. */
export class EnsembleError extends Error {
  override name = 'EnsembleError';
  readonly issues: EnsembleIssue[];
  constructor(issues: EnsembleIssue[], hint: string = DEFAULT_HINT) {
    super(formatIssues(issues, hint));
    this.issues = issues;
  }
}

/** Render issues as `file:line:col  path  message` lines under a one-line summary, then the hint. */
export function formatIssues(issues: EnsembleIssue[], hint: string = DEFAULT_HINT): string {
  const files = [...new Set(issues.map((i) => i.file))];
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  const lines = issues.map((i) => {
    const where = i.line !== undefined ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
    return `  ${where}  ${i.path ? `${i.path}  ` : ''}${i.message}`;
  });
  return [`Invalid ${files.join(', ') || 'ensemble'} (${count}):`, ...lines, hint].join('\n');
}

/**
 * Render a field path the way a user reads YAML.
 * @example formatPath(['agents', 2, 'depends_on', 0]) // 'agents[2].depends_on[0]'
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? (out ? `.${key}` : key) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/**
 * The candidate closest to a misspelt word, if one is close enough to be a likely typo.
 * @example didYouMean('depend_on', ['depends_on', 'prompt']) // 'depends_on'
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Allow about one typo per three characters: 'modle_profile' matches, 'x' does not match 'name'.
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

/** `; did you mean 'x'?` or nothing, for appending to a message. */
export function suggestion(word: string, candidates: Iterable<string>): string {
  const match = didYouMean(word, candidates);
  return match ? `; did you mean '${match}'?` : '';
}

/** Optimal string alignment distance: Levenshtein plus adjacent swaps, which are the commonest typo. */
function editDistance(a: string, b: string): number {
  // Far apart anyway, and it keeps pathological (huge) names cheap.
  if (Math.abs(a.length - b.length) > 8 || a.length > 100) return Infinity;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]![j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
