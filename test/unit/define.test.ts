import { chain, fanOutJoin } from '../../src/define';
import { UnknownProfileError } from '../../src/config/profiles';

test('chain wires each step to the one before and defaults prompts to it', () => {
  const def = chain('c', [
    { name: 'a', profile: 'offline' },
    { name: 'b', profile: 'gpt-4o-mini' },
  ]);
  expect(def.steps.map((s) => [s.name, s.dependsOn])).toEqual([
    ['a', []],
    ['b', ['a']],
  ]);
  expect(def.steps[0]).toMatchObject({ kind: 'agent', prompt: '{{input}}' });
  expect(def.steps[1]).toMatchObject({
    prompt: '{{steps.a}}',
    profile: { provider: 'openai', model: 'gpt-4o-mini' },
  });
  expect(JSON.parse(JSON.stringify(def))).toEqual(def);
});

test('fanOutJoin joins every branch', () => {
  const def = fanOutJoin(
    'f',
    [
      { name: 'x', profile: 'offline' },
      { name: 'y', profile: 'offline' },
    ],
    { name: 'j', profile: 'offline' },
  );
  expect(def.output).toBe('j');
  expect(def.steps[2]).toMatchObject({ dependsOn: ['x', 'y'] });
  expect((def.steps[2] as { prompt: string }).prompt).toContain('{{steps.y}}');
});

test('an unknown profile is refused with the names that exist', () => {
  expect(() => chain('c', [{ name: 'a', profile: 'gpt-9' }])).toThrow(UnknownProfileError);
  expect(() => chain('c', [{ name: 'a', profile: 'gpt-9' }])).toThrow(
    /step 'a': unknown model profile 'gpt-9'.*offline/,
  );
});
