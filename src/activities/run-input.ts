/**
 * The check of a run's input against the definition schema, as a local activity: zod stays out of
 * the workflow bundle (a smaller bundle is less memory per cached run), and the check is the one
 * clients make before they start a run.
 */
import { checkRunInput, describeIssues } from '../config/definition-schema';

/** The local activity workflows call with their input; the problems in one line, or null when it can run. */
export function createRunInputActivities() {
  return {
    async checkRunInput(input: unknown): Promise<string | null> {
      const issues = checkRunInput(input);
      return issues.length ? describeIssues(issues) : null;
    },
  };
}

export type RunInputActivities = ReturnType<typeof createRunInputActivities>;
