import { ProviderRegistry } from '../../src/activities/providers';
import { profileSchema } from '../../src/config/profiles';

test('the registry refuses a variable no endpoint is bound to before reading it', () => {
  const registry = new ProviderRegistry({ AWS_SECRET_ACCESS_KEY: 'secret' });
  expect(() =>
    registry.get({ name: 'p', provider: 'openai', model: 'm', apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' }),
  ).toThrow(/this worker does not hand AWS_SECRET_ACCESS_KEY to that endpoint/);
});

test('a base_url with credentials or a query is refused, and durations must be longer than zero', () => {
  const base = { provider: 'openai', model: 'm' };
  expect(profileSchema.safeParse({ ...base, base_url: 'https://user:key@host/v1' }).success).toBe(false);
  expect(profileSchema.safeParse({ ...base, base_url: 'https://host/v1?api-key=x' }).success).toBe(false);
  expect(profileSchema.safeParse({ ...base, base_url: 'https://host/v1' }).success).toBe(true);
  expect(profileSchema.safeParse({ ...base, timeout: '0s' }).success).toBe(false);
  expect(profileSchema.safeParse({ ...base, timeout: '30s' }).success).toBe(true);
});
