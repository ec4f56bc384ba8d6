import type { ModelProfile } from '../../types';
import { apiKeyEnvFor } from '../../config/profiles';
import { configFailure } from '../errors';
import { createAnthropicProvider } from './anthropic';
import { createOfflineProvider } from './offline';
import { createOpenAIProvider } from './openai';
import type { ModelProvider } from './types';

export type { ModelProvider, ProviderReply, CallOptions } from './types';

/**
 * Which environment variables a run may name as its key (api_key_env): by default any `*_API_KEY`
 * except Temporal's and Baton's own; `BATON_KEY_ENVS` (comma-separated) lists others explicitly.
 */
export function keyEnvAllowed(name: string, env: NodeJS.ProcessEnv): boolean {
  const listed = (env.BATON_KEY_ENVS ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (listed.includes(name)) return true;
  return /_API_KEY$/.test(name) && !/^(TEMPORAL|BATON)_/.test(name);
}

/**
 * Builds SDK clients from the worker's environment, once per provider, endpoint and key.
 * Keys are read here, in the worker, and never travel in workflow input or history.
 */
export class ProviderRegistry {
  private readonly cache = new Map<string, ModelProvider>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** The provider for a profile; throws a non-retryable ModelConfigError when the worker lacks its key. */
  get(profile: ModelProfile): ModelProvider {
    const keyEnv = apiKeyEnvFor(profile);
    if (keyEnv && !keyEnvAllowed(keyEnv, this.env)) {
      // A run names the variable; without this check it could make the worker send any secret it holds to any host.
      throw configFailure(
        `profile '${profile.name}' asks for the key in ${keyEnv}, which this worker does not hand to model providers. ` +
          `Allowed: variables ending in _API_KEY (except TEMPORAL_* and BATON_*), or those listed in BATON_KEY_ENVS; add ${keyEnv} to BATON_KEY_ENVS on the worker if it is meant for this.`,
      );
    }
    const apiKey = keyEnv ? this.env[keyEnv] : undefined;
    const baseURL = profile.baseURL ?? this.defaultBaseURL(profile);
    const cacheKey = `${profile.provider}|${baseURL ?? ''}|${keyEnv ?? ''}|${apiKey ?? ''}`;
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;

    if (keyEnv && !apiKey) {
      throw configFailure(
        `${keyEnv} is not set in the worker's environment, so profile '${profile.name}' (${profile.provider}) cannot call ` +
          `${profile.model}. Set ${keyEnv} where the worker runs and restart it, then retry the run.`,
      );
    }
    let provider: ModelProvider;
    switch (profile.provider) {
      case 'offline':
        provider = createOfflineProvider();
        break;
      case 'anthropic':
        provider = createAnthropicProvider({ apiKey: apiKey!, ...(baseURL && { baseURL }) });
        break;
      case 'openai':
      case 'openai-compatible':
        if (!baseURL && profile.provider === 'openai-compatible') {
          throw configFailure(
            `profile '${profile.name}' is openai-compatible but has no base_url; set base_url in the profile.`,
          );
        }
        // Most compatible servers ignore the key, but the SDK insists on one.
        provider = createOpenAIProvider({
          apiKey: apiKey ?? 'not-needed',
          name: profile.provider,
          ...(baseURL && { baseURL }),
        });
        break;
      default: {
        // Every provider has a case: adding one to ProviderName without a case fails to compile.
        const unknown: never = profile.provider;
        throw configFailure(
          `profile '${profile.name}' names provider '${String(unknown)}', which this worker does not know; use openai, anthropic, openai-compatible or offline.`,
        );
      }
    }
    this.cache.set(cacheKey, provider);
    return provider;
  }

  private defaultBaseURL(profile: ModelProfile): string | undefined {
    if (profile.provider === 'openai') return this.env.OPENAI_BASE_URL || undefined;
    if (profile.provider === 'anthropic') return this.env.ANTHROPIC_BASE_URL || undefined;
    return undefined;
  }
}
