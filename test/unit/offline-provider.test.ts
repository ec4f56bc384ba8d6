import { createOfflineProvider, sampleFromSchema } from '../../src/activities/providers/offline';

const profile = { name: 'offline', provider: 'offline' as const, model: 'baton-offline-1' };
const signal = new AbortController().signal;

test('answers deterministically, with usage', async () => {
  const p = createOfflineProvider();
  const req = { profile, messages: [{ role: 'user' as const, content: 'Summarise this\nlong text here' }] };
  const a = await p.complete(req, { signal });
  const b = await p.complete(req, { signal });
  expect(a).toEqual(b);
  expect(a.text).toContain('Summarise this');
  expect(a.usage.inputTokens).toBeGreaterThan(0);
});

test('structured output matches the schema', async () => {
  const schema = {
    type: 'object',
    properties: {
      pass: { type: 'boolean' },
      score: { type: 'number', minimum: 0 },
      label: { enum: ['a', 'b'] },
      tags: { type: 'array', items: { type: 'string' } },
    },
  };
  const res = await createOfflineProvider().complete(
    { profile, messages: [{ role: 'user', content: 'x' }], responseFormat: { name: 'v', schema } },
    { signal },
  );
  const v = JSON.parse(res.text);
  expect(typeof v.pass).toBe('boolean');
  expect(v.score).toBe(0);
  expect(['a', 'b']).toContain(v.label);
  expect(Array.isArray(v.tags)).toBe(true);
  expect(sampleFromSchema({ const: 7 }, 1)).toBe(7);
});

test('an aborted call does not answer', async () => {
  const ac = new AbortController();
  ac.abort();
  await expect(
    createOfflineProvider().complete({ profile, messages: [] }, { signal: ac.signal }),
  ).rejects.toThrow();
});
