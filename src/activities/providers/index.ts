import type { ModelProfile } from '../../types';
import { EndpointPolicy } from '../endpoints';
import { configFailure } from '../errors';
import { createOfflineProvider } from './offline';
import type { ModelProvider } from './types';

// Each provider's SDK is loaded when a profile first needs it: a worker whose runs never call a
// provider (runs parked on approval, offline profiles) does not hold its code in memory.
const anthropic = () => require('./anthropic') as typeof import('./anthropic');
const gemini = () => require('./gemini') as typeof import('./gemini');
const openai = () => require('./openai') as typeof import('./openai');

export type { ModelProvider, ProviderReply, CallOptions, ReplyDelta } from './types';

/**
 * Builds SDK clients from the worker's environment, once per provider, endpoint and key.
 * Keys are read here, in the worker, and never travel in workflow input or history.
 */
export class ProviderRegistry {
  private readonly cache = new Map<string, ModelProvider>();
  private readonly policy: EndpointPolicy;

  /** `policy` decides where keys may go (default: what `env` allows, see EndpointPolicy.fromEnv). */
  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    policy?: EndpointPolicy,
  ) {
    this.policy = policy ?? EndpointPolicy.fromEnv(env);
  }

  /**
   * The provider for a profile. Throws a non-retryable EndpointNotAllowed when the profile names an
   * endpoint or key the worker's operator did not allow (checked before the key is read), and a
   * ModelConfigError when the worker lacks the key.
   */
  get(profile: ModelProfile): ModelProvider {
    const { sdkBaseURL: baseURL, keyEnv } = this.policy.check(profile);
    const apiKey = keyEnv ? this.env[keyEnv] : undefined;
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
        // BATON_OFFLINE_WORD_DELAY_MS paces its stream (the demo sets it so the stream is visible).
        provider = createOfflineProvider({ wordDelayMs: Number(this.env.BATON_OFFLINE_WORD_DELAY_MS) || 0 });
        break;
      case 'anthropic':
        provider = anthropic().createAnthropicProvider({ apiKey: apiKey!, ...(baseURL && { baseURL }) });
        break;
      case 'gemini':
        provider = gemini().createGeminiProvider({ apiKey: apiKey!, ...(baseURL && { baseURL }) });
        break;
      case 'openai':
      case 'openai-compatible':
        if (!baseURL && profile.provider === 'openai-compatible') {
          throw configFailure(
            `profile '${profile.name}' is openai-compatible but has no base_url; set base_url in the profile.`,
          );
        }
        // Most compatible servers ignore the key, but the SDK insists on one.
        provider = openai().createOpenAIProvider({
          apiKey: apiKey ?? 'not-needed',
          name: profile.provider,
          ...(baseURL && { baseURL }),
        });
        break;
      default: {
        // Every provider has a case: adding one to ProviderName without a case fails to compile.
        const unknown: never = profile.provider;
        throw configFailure(
          `profile '${profile.name}' names provider '${String(unknown)}', which this worker does not know; use openai, anthropic, gemini, openai-compatible or offline.`,
        );
      }
    }
    this.cache.set(cacheKey, provider);
    return provider;
  }
}
