/**
 * All activities the worker registers. Everything that touches the world (model APIs, tools)
 * lives here, never in workflow code.
 */
import type { EventBus } from '../streams';
import type { AllowedEndpoint } from './endpoints';
import { createMemoryActivities, type MemoryStore } from './memory';
import { createModelActivities } from './model';
import { createNotifyActivities, type Notifier } from './notify';
import { createRunInputActivities } from './run-input';
import { createToolActivities, type ToolDefinition } from './tools';
import type { McpHub } from './mcp';
import { createScriptActivities, type ScriptConfig } from './scripts';
import { createWorkerCheckActivities } from './worker-allows';

export type { ToolDefinition } from './tools';
export type { Notifier } from './notify';
export type { AllowedEndpoint } from './endpoints';
export type { ScriptConfig } from './scripts';
export type { McpServerConfig } from './mcp';
export type { MemoryStore } from './memory';

export interface ActivityDeps {
  /** The worker's environment: API keys and base URLs are read from it. */
  env?: NodeJS.ProcessEnv;
  /** Endpoints model calls may use besides those the environment allows, each with the key variables it may receive. */
  allowedEndpoints?: AllowedEndpoint[];
  /** Tools agents may call on this worker. */
  tools?: ToolDefinition[];
  /** Where escalated approval gates are announced (default: the worker's log). */
  notifier?: Notifier;
  /** Scripts `kind: script` steps may run, by name. */
  scripts?: Record<string, ScriptConfig>;
  /** The worker's MCP connections and the servers it allows. */
  mcp?: McpHub;
  /** Long-term memory store (default: BATON_MEMORY_URL's PostgreSQL, else the embedded LanceDB store in BATON_MEMORY_DIR). */
  memoryStore?: MemoryStore;
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
    ...createToolActivities(deps.tools, deps.mcp),
    ...createScriptActivities(deps.scripts, deps.env),
    ...createWorkerCheckActivities(deps.scripts ?? {}, deps.mcp),
    ...createNotifyActivities(deps.notifier),
    ...createMemoryActivities({
      ...(deps.env && { env: deps.env }),
      ...(deps.allowedEndpoints && { allowedEndpoints: deps.allowedEndpoints }),
      ...(deps.memoryStore && { store: deps.memoryStore }),
    }),
    ...createRunInputActivities(),
  };
}

export type BatonActivities = ReturnType<typeof createActivities>;
