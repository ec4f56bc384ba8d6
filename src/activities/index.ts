/**
 * All activities the worker registers. Everything that touches the world (model APIs, tools)
 * lives here, never in workflow code.
 */
import type { EventBus } from '../streams';
import type { AllowedEndpoint } from './endpoints';
import { createModelActivities } from './model';
import { createNotifyActivities, type Notifier } from './notify';
import { createToolActivities, type ToolDefinition } from './tools';

export type { ToolDefinition } from './tools';
export type { Notifier } from './notify';
export type { AllowedEndpoint } from './endpoints';

export interface ActivityDeps {
  /** The worker's environment: API keys and base URLs are read from it. */
  env?: NodeJS.ProcessEnv;
  /** Endpoints model calls may use besides those the environment allows, each with the key variables it may receive. */
  allowedEndpoints?: AllowedEndpoint[];
  /** Tools agents may call on this worker. */
  tools?: ToolDefinition[];
  /** Where escalated approval gates are announced (default: the worker's log). */
  notifier?: Notifier;
  /** Where model calls stream their deltas and step events (default: eventBusFromEnv, docs/streaming.md). */
  events?: EventBus;
}

/** Build the activity implementations for a worker. */
export function createActivities(deps: ActivityDeps = {}) {
  return {
    ...createModelActivities({
      ...(deps.env && { env: deps.env }),
      ...(deps.allowedEndpoints && { allowedEndpoints: deps.allowedEndpoints }),
      ...(deps.events && { events: deps.events }),
    }),
    ...createToolActivities(deps.tools),
    ...createNotifyActivities(deps.notifier),
  };
}

export type BatonActivities = ReturnType<typeof createActivities>;
