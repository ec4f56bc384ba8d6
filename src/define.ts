/**
 * Build ensemble definitions in TypeScript, for the shapes most runs take. The result is the
 * same plain JSON a YAML ensemble resolves to.
 */
import { resolveProfile } from './config/profiles';
import type { AgentStep, Budget, EnsembleDefinition, ModelProfile } from './types';

/** An agent step as written in code; profile by name (built-in or given) or in full. */
export interface AgentSpec {
  name: string;
  profile: string | ModelProfile;
  system?: string;
  /** Template; see docs/ensembles.md. Default: the previous step's output (or the run's input). */
  prompt?: string;
  timeout?: AgentStep['timeout'];
  retry?: AgentStep['retry'];
  outputSchema?: Record<string, unknown>;
  /** Times a reply that misses `outputSchema` is asked for again (default 2). */
  outputRepairs?: number;
  /**
   * Profiles tried in order when a call fails for good (names or in full); replaces the profile's
   * own `fallbacks` / `fallbackProfiles`, `[]` for none. See docs/ensembles.md#fallback-profiles.
   */
  fallbacks?: (string | ModelProfile)[];
}

export interface DefineOptions {
  description?: string;
  budget?: Budget;
  /** Profiles that `profile` names may refer to, besides the built-in ones. */
  profiles?: Record<string, ModelProfile>;
}

function toAgent(
  spec: AgentSpec,
  dependsOn: string[],
  defaultPrompt: string,
  opts: DefineOptions,
): AgentStep {
  const byName = (p: string | ModelProfile) =>
    typeof p === 'string' ? resolveProfile(p, opts.profiles, `step '${spec.name}'`) : { ...p };
  const profile = byName(spec.profile);
  // Names (a config profile's fallback_profiles) become profiles here, as the YAML loader does.
  const fallbacks = (spec.fallbacks ?? profile.fallbacks ?? profile.fallbackProfiles ?? []).map((f) => {
    const { fallbacks: _nested, fallbackProfiles: _names, ...flat } = byName(f);
    return flat;
  });
  delete profile.fallbackProfiles;
  if (fallbacks.length) profile.fallbacks = fallbacks;
  else delete profile.fallbacks;
  return {
    kind: 'agent',
    name: spec.name,
    dependsOn,
    profile,
    prompt: spec.prompt ?? defaultPrompt,
    ...(spec.system !== undefined && { system: spec.system }),
    ...(spec.timeout !== undefined && { timeout: spec.timeout }),
    ...(spec.retry && { retry: spec.retry }),
    ...(spec.outputSchema && { outputSchema: spec.outputSchema }),
    ...(spec.outputRepairs !== undefined && { outputRepairs: spec.outputRepairs }),
  };
}

function meta(name: string, opts: DefineOptions) {
  return {
    name,
    ...(opts.description && { description: opts.description }),
    ...(opts.budget && { budget: opts.budget }),
  };
}

/**
 * A prompt chain: each step's output feeds the next.
 *
 * @example chain('blog', [{ name: 'outline', profile: 'offline' }, { name: 'draft', profile: 'offline', prompt: 'Write from: {{outline}}' }])
 */
export function chain(name: string, steps: AgentSpec[], opts: DefineOptions = {}): EnsembleDefinition {
  if (steps.length === 0) throw new Error(`chain '${name}' needs at least one step`);
  return {
    ...meta(name, opts),
    steps: steps.map((s, i) =>
      i === 0
        ? toAgent(s, [], '{{input}}', opts)
        : toAgent(s, [steps[i - 1]!.name], `{{steps.${steps[i - 1]!.name}}}`, opts),
    ),
  };
}

/**
 * A parallel fan-out of independent branches over the input, joined by one step that sees them all.
 * The join's default prompt lists each branch's output under its name.
 */
export function fanOutJoin(
  name: string,
  branches: AgentSpec[],
  join: AgentSpec,
  opts: DefineOptions = {},
): EnsembleDefinition {
  if (branches.length === 0) throw new Error(`fanOutJoin '${name}' needs at least one branch`);
  const joined = branches.map((b) => `## ${b.name}\n{{steps.${b.name}}}`).join('\n\n');
  return {
    ...meta(name, opts),
    steps: [
      ...branches.map((b) => toAgent(b, [], '{{input}}', opts)),
      toAgent(
        join,
        branches.map((b) => b.name),
        joined,
        opts,
      ),
    ],
    output: join.name,
  };
}
