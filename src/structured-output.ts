/**
 * Structured output, the parts both sides share: reading a model's JSON reply, and the words of
 * a repair request and of the failure. Pure functions: safe in workflow code and in activities.
 */
import type { SchemaIssue } from './types';

/** Repairs (re-asks after a reply that does not match its schema) a step gets unless it says otherwise. */
export const DEFAULT_OUTPUT_REPAIRS = 2;

/** At most this many issues travel back to the model and into the error. */
const MAX_ISSUES = 10;

/**
 * Read a model's JSON reply: plain JSON, or JSON inside a ```json fence or surrounded by prose.
 * Returns undefined when there is no JSON to be found.
 */
export function parseJsonReply(text: string): unknown {
  const trimmed = text.trim();
  const candidates = [trimmed];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(trimmed);
  if (fence) candidates.push(fence[1]!.trim());
  const start = trimmed.indexOf('{');
  const end = trimmed.lastIndexOf('}');
  if (start >= 0 && end > start) candidates.push(trimmed.slice(start, end + 1));
  for (const c of candidates) {
    try {
      return JSON.parse(c);
    } catch {
      // try the next reading
    }
  }
  return undefined;
}

/** The issue of a reply that holds no JSON at all. */
export function notJsonIssue(): SchemaIssue {
  return { path: '(root)', message: 'the reply is not JSON' };
}

/** Issues as one line each: `- kind: must be one of "fix", "feature"`. */
export function issueLines(issues: readonly SchemaIssue[]): string {
  const shown = issues.slice(0, MAX_ISSUES).map((i) => `- ${i.path}: ${i.message}`);
  if (issues.length > MAX_ISSUES) shown.push(`- (and ${issues.length - MAX_ISSUES} more)`);
  return shown.join('\n');
}

/** What the model is told after a reply that does not match the schema. */
export function repairPrompt(issues: readonly SchemaIssue[]): string {
  return [
    'Your reply does not match the required JSON schema:',
    issueLines(issues),
    'Reply again with the whole answer as JSON that matches the schema, and nothing else.',
  ].join('\n');
}

/** The start of a reply, on one line, for an error message. */
export function replyStart(text: string, max = 120): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 3)}...` : one;
}

/**
 * The message of a StructuredOutputError: the step, the first schema path at fault, what is
 * wrong, how many replies were refused, and how the last one began.
 *
 * @example structuredOutputMessage('triage', [{ path: 'kind', message: 'must be one of "fix"' }], '{"kind":"x"}', 3)
 */
export function structuredOutputMessage(
  step: string,
  issues: readonly SchemaIssue[],
  reply: string,
  replies: number,
): string {
  const first = issues[0] ?? notJsonIssue();
  const more =
    issues.length > 1
      ? ` (and ${issues.length - 1} more: ${issues
          .slice(1, 4)
          .map((i) => i.path)
          .join(', ')})`
      : '';
  return (
    `step '${step}': the model's reply does not match the output schema at '${first.path}': ${first.message}${more}; ` +
    `${replies} ${replies === 1 ? 'reply' : 'replies'} refused (${replies - 1} ${replies - 1 === 1 ? 'repair' : 'repairs'}). ` +
    `The last reply began: ${JSON.stringify(replyStart(reply))}. ` +
    'Make the prompt ask for what the schema wants, loosen the schema, or raise output_repairs, then retry the run.'
  );
}
