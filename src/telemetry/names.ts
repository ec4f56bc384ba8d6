/** Names shared by the workflow side (bundled) and the worker side of Baton's tracing. Pure. */

/** The activities that get a step span: model calls and tool calls. */
export const TRACED_ACTIVITIES: ReadonlySet<string> = new Set(['callModel', 'callTool']);

/** Header carrying the step name from the workflow to the activity's span. */
export const STEP_HEADER = 'baton-step';

/**
 * The step a call belongs to, from the activity summary Baton gives it: a model call's summary is
 * its step (`draft`, `review[3]`), a tool call's is `<step>: <tool>`.
 */
export function stepOfSummary(summary: string | undefined): string | undefined {
  if (!summary) return undefined;
  const i = summary.indexOf(': ');
  return i >= 0 ? summary.slice(0, i) : summary;
}
