import { checkDefinition } from '../../src/config/definition-check';
import { chain } from '../../src/define';
import { loadEnsembleFile } from '../../src/config';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

test('definitions from the builders and every example ensemble pass', () => {
  expect(
    checkDefinition(
      chain('c', [
        { name: 'a', profile: 'offline' },
        { name: 'b', profile: 'offline' },
      ]),
    ),
  ).toEqual([]);
  const dir = join(__dirname, '..', '..', 'examples', 'ensembles');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')))
    expect(checkDefinition(loadEnsembleFile(join(dir, f)))).toEqual([]);
});

test.each([
  [null, /must be an object/],
  [{ name: 'x', steps: [] }, /steps must be a non-empty list/],
  [{ name: 'x', steps: [null] }, /steps\[0\] must be an object/],
  [
    {
      name: 'x',
      steps: [
        {
          kind: 'agent',
          name: 'a',
          dependsOn: ['zz'],
          profile: { name: 'p', provider: 'offline', model: 'm' },
          prompt: '',
        },
      ],
    },
    /depends on unknown step 'zz'/,
  ],
  [
    { name: 'x', steps: [{ kind: 'agent', name: 'a', dependsOn: [], profile: 'offline', prompt: '' }] },
    /profile must be a resolved model profile/,
  ],
  [
    {
      name: 'x',
      steps: [
        {
          kind: 'agent',
          name: 'a',
          dependsOn: [],
          profile: { name: 'p', provider: 'openai', model: 'm', baseURL: 'https://u:k@h/v1' },
          prompt: '',
        },
      ],
    },
    /must not carry credentials/,
  ],
  [
    { name: 'x', steps: [{ kind: 'magic', name: 'a', dependsOn: [] }] },
    /kind must be agent, approval or loop/,
  ],
  [
    {
      name: 'x',
      steps: [
        {
          kind: 'loop',
          name: 'l',
          dependsOn: [],
          maxIterations: 0,
          until: { ref: 'a', op: 'truthy' },
          body: [],
        },
      ],
    },
    /maxIterations must be at least 1/,
  ],
])('%j is refused', (def, message) => {
  expect(checkDefinition(def).join('; ')).toMatch(message);
});
