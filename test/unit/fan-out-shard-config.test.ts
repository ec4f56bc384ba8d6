/** `fan_out.shard` (docs/scale.md): YAML and TypeScript definitions give the shard size, or false. */
import { EnsembleError, loadEnsembleText } from '../../src/config';
import { definitionSchema } from '../../src/config/definition-schema';
import type { AgentStep } from '../../src/types';

const NO_CONFIG = { config: { profiles: {}, files: [] } };
const yaml = (fanOut: string) =>
  [
    'name: x',
    'agents:',
    '  - name: a',
    '    model_profile: offline',
    '  - name: b',
    '    model_profile: offline',
    '    depends_on: [a]',
    `    fan_out: ${fanOut}`,
  ].join('\n') + '\n';

test('fan_out.shard gives the shard size; shard: false keeps the instances in the run', () => {
  const def = loadEnsembleText(yaml('{ batch: { size: 50 }, shard: { size: 2000 } }'), 'e.yaml', NO_CONFIG);
  expect((def.steps[1] as AgentStep).fanOut).toEqual({
    from: 'a',
    batch: { size: 50 },
    shard: { size: 2000 },
  });
  const off = loadEnsembleText(yaml('{ shard: false }'), 'e.yaml', NO_CONFIG);
  expect((off.steps[1] as AgentStep).fanOut).toEqual({ from: 'a', shard: false });
});

test('a bad fan_out.shard is refused, naming the field', () => {
  let error: unknown;
  try {
    loadEnsembleText(yaml('{ shard: { size: 0, sise: 3 } }'), 'e.yaml', NO_CONFIG);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(EnsembleError);
  expect((error as Error).message).toMatch(/agents\[1\]\.fan_out\.shard/);
  expect(() => loadEnsembleText(yaml('{ shard: true }'), 'e.yaml', NO_CONFIG)).toThrow(/fan_out\.shard/);
});

test('the definition schema takes fanOut.shard and refuses a size below 1', () => {
  const def = (shard: unknown) => ({
    name: 'x',
    steps: [
      {
        kind: 'agent',
        name: 'a',
        dependsOn: [],
        profile: { name: 'o', provider: 'offline', model: 'm' },
        prompt: 'p',
      },
      {
        kind: 'agent',
        name: 'b',
        dependsOn: ['a'],
        profile: { name: 'o', provider: 'offline', model: 'm' },
        prompt: '{{item}}',
        fanOut: { from: 'a', shard },
      },
    ],
  });
  expect(definitionSchema.safeParse(def({ size: 100 })).success).toBe(true);
  expect(definitionSchema.safeParse(def(false)).success).toBe(true);
  expect(definitionSchema.safeParse(def({ size: 0 })).success).toBe(false);
});
