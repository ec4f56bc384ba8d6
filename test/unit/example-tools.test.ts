import { evaluateArithmetic, search } from '../../examples/tools';

test('the example calculator evaluates arithmetic and refuses anything else', () => {
  expect(evaluateArithmetic('(68.4 + 84.5) * 2')).toBeCloseTo(305.8);
  expect(evaluateArithmetic('-3 + 10 / 4')).toBe(-0.5);
  expect(() => evaluateArithmetic('2 + two')).toThrow(/cannot evaluate/);
});

test('the example search finds facts by keyword and says so when it finds none', async () => {
  const signal = new AbortController().signal;
  const ctx = { signal, idempotencyKey: 'k', attempt: 1 };
  expect(await search.run({ query: 'population of France' }, ctx)).toContain('68.4 million');
  expect(await search.run({ query: 'weather on Mars' }, ctx)).toBe("No facts found for 'weather on Mars'.");
});
