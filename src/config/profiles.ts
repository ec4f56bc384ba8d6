import { z } from 'zod';
import type { ModelProfile, ProviderName } from '../types';

/** Zod schema of a model profile as users write it (YAML or TypeScript). */
// A bare number is milliseconds (Temporal's reading), so `timeout: 30` would be 30 ms: numbers
// under a second and strings without a unit are refused rather than silently misread.
export const durationSchema = z.union([
  z.number().int().min(1000, { message: "a bare number is milliseconds; write '30s' for 30 seconds" }),
  z
    .string()
    .regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d|milliseconds?|seconds?|minutes?|hours?|days?)$/, {
      message: "expected a duration with a unit, such as '30s', '2 minutes', '1h' or '500ms'",
    })
    .refine((v) => parseFloat(v) > 0, { message: 'a duration must be longer than zero' }),
]);

/** A base URL that carries no credential: keys belong in the worker's environment, never in a run's input. */
export const baseUrlSchema = z
  .string()
  .url()
  .refine(
    (u) => {
      const url = new URL(u);
      return !url.username && !url.password && !url.search;
    },
    {
      message:
        "a base_url must not carry a user, password or query (keys go in the worker's environment: api_key_env)",
    },
  );

export const providerSchema = z.enum(['openai', 'anthropic', 'gemini', 'openai-compatible', 'offline']);

export const pricingSchema = z
  .object({
    input_per_mtok: z.number().nonnegative(),
    output_per_mtok: z.number().nonnegative(),
    cached_input_per_mtok: z.number().nonnegative().optional(),
  })
  .strict();

/** A profile as written in config files (snake_case, like the rest of the YAML). */
export const profileSchema = z
  .object({
    provider: providerSchema,
    model: z.string().min(1),
    base_url: baseUrlSchema.optional(),
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, { message: 'expected the NAME of an environment variable, not a key' })
      .optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().optional(),
    timeout: durationSchema.optional(),
    pricing: pricingSchema.optional(),
    /** Given to every agent step of this profile that sets no system_prompt of its own. */
    system_prompt: z.string().optional(),
    fallback_profiles: z
      .array(z.string().min(1))
      .max(10, { message: 'at most 10 fallback profiles' })
      .optional(),
  })
  .strict();

export type ProfileConfig = z.infer<typeof profileSchema>;

/** Turn a config-file profile into the resolved shape runs carry. */
export function toModelProfile(name: string, p: ProfileConfig): ModelProfile {
  const profile: ModelProfile = { name, provider: p.provider, model: p.model };
  if (p.base_url !== undefined) profile.baseURL = p.base_url;
  if (p.api_key_env !== undefined) profile.apiKeyEnv = p.api_key_env;
  if (p.temperature !== undefined) profile.temperature = p.temperature;
  if (p.max_tokens !== undefined) profile.maxTokens = p.max_tokens;
  if (p.timeout !== undefined) profile.timeout = p.timeout;
  if (p.system_prompt !== undefined) profile.systemPrompt = p.system_prompt;
  if (p.fallback_profiles !== undefined) profile.fallbackProfiles = [...p.fallback_profiles];
  if (p.pricing)
    profile.pricing = {
      inputPerMTok: p.pricing.input_per_mtok,
      outputPerMTok: p.pricing.output_per_mtok,
      ...(p.pricing.cached_input_per_mtok !== undefined && {
        cachedInputPerMTok: p.pricing.cached_input_per_mtok,
      }),
    };
  return profile;
}

/**
 * Profiles every installation has. Prices are list prices per million tokens at the time of
 * writing; override them in `.baton/config.yaml` when your contract differs.
 */
export const BUILTIN_PROFILES: Readonly<Record<string, ModelProfile>> = Object.freeze({
  offline: {
    name: 'offline',
    provider: 'offline',
    model: 'baton-offline-1',
    pricing: { inputPerMTok: 0, outputPerMTok: 0 },
  },
  'gpt-4o-mini': {
    name: 'gpt-4o-mini',
    provider: 'openai',
    model: 'gpt-4o-mini',
    pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075 },
  },
  'gpt-4o': {
    name: 'gpt-4o',
    provider: 'openai',
    model: 'gpt-4o',
    pricing: { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 },
  },
  'claude-haiku': {
    name: 'claude-haiku',
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    maxTokens: 4096,
    pricing: { inputPerMTok: 1, outputPerMTok: 5, cachedInputPerMTok: 0.1 },
  },
  'claude-sonnet': {
    name: 'claude-sonnet',
    provider: 'anthropic',
    model: 'claude-sonnet-4-5',
    maxTokens: 4096,
    pricing: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3 },
  },
  'gemini-flash': {
    name: 'gemini-flash',
    provider: 'gemini',
    model: 'gemini-2.5-flash',
    pricing: { inputPerMTok: 0.3, outputPerMTok: 2.5, cachedInputPerMTok: 0.03 },
  },
  'gemini-pro': {
    name: 'gemini-pro',
    provider: 'gemini',
    model: 'gemini-2.5-pro',
    pricing: { inputPerMTok: 1.25, outputPerMTok: 10, cachedInputPerMTok: 0.125 },
  },
  ollama: {
    name: 'ollama',
    provider: 'openai-compatible',
    model: 'llama3.2',
    baseURL: 'http://127.0.0.1:11434/v1',
    pricing: { inputPerMTok: 0, outputPerMTok: 0 },
  },
});

/** Raised for a profile name that no config defines; the message lists the names that exist. */
export class UnknownProfileError extends Error {
  override name = 'UnknownProfileError';
  constructor(
    readonly profile: string,
    readonly known: string[],
    where?: string,
  ) {
    super(
      `${where ? `${where}: ` : ''}unknown model profile '${profile}'. Known profiles: ${known.sort().join(', ')}. ` +
        `Define it under 'profiles:' in .baton/config.yaml or ~/.config/baton/config.yaml.`,
    );
  }
}

/** Look a profile up by name: user profiles first, then the built-in ones. */
export function resolveProfile(
  name: string,
  userProfiles: Record<string, ModelProfile> = {},
  where?: string,
): ModelProfile {
  // Own keys only: 'constructor' or 'toString' must not resolve to Object.prototype members.
  const found = findProfile(name, userProfiles);
  if (!found)
    throw new UnknownProfileError(
      name,
      [...new Set([...Object.keys(userProfiles), ...Object.keys(BUILTIN_PROFILES)])],
      where,
    );
  return { ...found };
}

/**
 * The environment variable that holds the key for a profile, or undefined for keyless providers.
 * Gemini reads GOOGLE_API_KEY when `env` sets it, else GEMINI_API_KEY (the order of Google's SDK).
 */
export function apiKeyEnvFor(
  profile: Pick<ModelProfile, 'provider' | 'apiKeyEnv'>,
  env?: NodeJS.ProcessEnv,
): string | undefined {
  if (profile.apiKeyEnv) return profile.apiKeyEnv;
  const defaults: Record<ProviderName, string | undefined> = {
    openai: 'OPENAI_API_KEY',
    anthropic: 'ANTHROPIC_API_KEY',
    gemini: env?.GOOGLE_API_KEY ? 'GOOGLE_API_KEY' : 'GEMINI_API_KEY',
    'openai-compatible': undefined, // Ollama and most vLLM setups take no key
    offline: undefined,
  };
  return defaults[profile.provider];
}

/**
 * Like `resolveProfile`, but a name is only found as an own key, so names such as `constructor`
 * or `toString` are unknown profiles rather than members of Object.prototype.
 */
export function findProfile(
  name: string,
  userProfiles: Record<string, ModelProfile> = {},
): ModelProfile | undefined {
  const own = (o: object) => Object.prototype.hasOwnProperty.call(o, name);
  if (own(userProfiles)) return { ...userProfiles[name]! };
  if (own(BUILTIN_PROFILES)) return { ...BUILTIN_PROFILES[name]! };
  return undefined;
}

/** Every profile name visible with these user profiles, built-in ones included. */
export function profileNames(userProfiles: Record<string, ModelProfile> = {}): string[] {
  return [...new Set([...Object.keys(userProfiles), ...Object.keys(BUILTIN_PROFILES)])].sort();
}
