/** Checks on a resolved definition against the environment a worker will have. */
import { apiKeyEnvFor } from './profiles';
import type { EnsembleDefinition, ModelProfile, StepDefinition } from '../types';

export interface MissingKey {
  step: string;
  profile: string;
  variable: string;
}

function agentSteps(
  steps: StepDefinition[],
  prefix = '',
): { name: string; step: Extract<StepDefinition, { kind: 'agent' }> }[] {
  return steps.flatMap((s) =>
    s.kind === 'agent'
      ? [{ name: prefix + s.name, step: s }]
      : s.kind === 'loop'
        ? agentSteps(s.body, `${prefix}${s.name}/`)
        : s.kind === 'ensemble'
          ? agentSteps(s.definition.steps, `${prefix}${s.name}/`)
          : [],
  );
}

/** The profile of every agent step (loop bodies and child ensembles included) and its fallbacks, with the step's name. */
export function agentProfiles(def: EnsembleDefinition): { step: string; profile: ModelProfile }[] {
  return agentSteps(def.steps).flatMap(({ name, step }) => [
    { step: name, profile: step.profile },
    ...(step.profile.fallbacks ?? []).map((profile) => ({ step: name, profile })),
  ]);
}

/** Every step whose profile needs a key that `env` lacks. */
export function missingKeys(def: EnsembleDefinition, env: NodeJS.ProcessEnv): MissingKey[] {
  return agentSteps(def.steps).flatMap(({ name, step }) => {
    const variable = apiKeyEnvFor(step.profile, env);
    return variable && !env[variable] ? [{ step: name, profile: step.profile.name, variable }] : [];
  });
}

/** One line saying which keys are missing and for which steps, or undefined when none are. */
export function missingKeysMessage(def: EnsembleDefinition, env: NodeJS.ProcessEnv): string | undefined {
  const missing = missingKeys(def, env);
  if (missing.length === 0) return undefined;
  const byVar = new Map<string, string[]>();
  for (const m of missing)
    byVar.set(m.variable, [...(byVar.get(m.variable) ?? []), `${m.step} (${m.profile})`]);
  const parts = [...byVar].map(([v, steps]) => `${v} is not set (needed by ${steps.join(', ')})`);
  return `${parts.join('; ')}. Set ${[...byVar.keys()].join(' and ')} in this environment, or choose the offline profile; nothing was started.`;
}
