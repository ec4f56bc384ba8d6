import { keyEnvAllowed, ProviderRegistry } from '../../src/activities/providers';
import { profileSchema } from '../../src/config/profiles';

test('only model-key variables may be named by a run', () => {
  expect(keyEnvAllowed('OPENAI_API_KEY', {})).toBe(true);
  expect(keyEnvAllowed('GROQ_API_KEY', {})).toBe(true);
  expect(keyEnvAllowed('TEMPORAL_API_KEY', {})).toBe(false);
  expect(keyEnvAllowed('BATON_API_TOKEN', {})).toBe(false);
  expect(keyEnvAllowed('AWS_SECRET_ACCESS_KEY', {})).toBe(false);
  expect(keyEnvAllowed('MY_VLLM_TOKEN', { BATON_KEY_ENVS: 'OTHER, MY_VLLM_TOKEN' })).toBe(true);
});

test('the registry refuses a disallowed variable before reading it', () => {
  const registry = new ProviderRegistry({ AWS_SECRET_ACCESS_KEY: 'secret' });
  expect(() =>
    registry.get({ name: 'p', provider: 'openai', model: 'm', apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' }),
  ).toThrow(/does not hand to model providers/);
});

test('a base_url with credentials or a query is refused, and durations must be longer than zero', () => {
  const base = { provider: 'openai', model: 'm' };
  expect(profileSchema.safeParse({ ...base, base_url: 'https://user:key@host/v1' }).success).toBe(false);
  expect(profileSchema.safeParse({ ...base, base_url: 'https://host/v1?api-key=x' }).success).toBe(false);
  expect(profileSchema.safeParse({ ...base, base_url: 'https://host/v1' }).success).toBe(true);
  expect(profileSchema.safeParse({ ...base, timeout: '0s' }).success).toBe(false);
  expect(profileSchema.safeParse({ ...base, timeout: '30s' }).success).toBe(true);
});
