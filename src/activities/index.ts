/**
 * All activities the worker registers. Everything that touches the world (model APIs, tools)
 * lives here, never in workflow code.
 */
import { createModelActivities } from './model';

export interface ActivityDeps {
  /** The worker's environment: API keys and base URLs are read from it. */
  env?: NodeJS.ProcessEnv;
}

/** Build the activity implementations for a worker. */
export function createActivities(deps: ActivityDeps = {}) {
  return {
    ...createModelActivities(deps.env ? { env: deps.env } : {}),
  };
}

export type BatonActivities = ReturnType<typeof createActivities>;
