import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProviderRegistry } from '../../src/activities/providers';
import { EnsembleError, loadEnsembleFile, loadEnsembleText } from '../../src/config';
import {
  checkDefinition,
  checkRunInput,
  parseDefinition,
  runIdSchema,
} from '../../src/config/definition-schema';
import { chain, fanOutJoin } from '../../src/define';
import type { ModelProfile } from '../../src/types';

const root = join(__dirname, '..', '..');
const messages = (def: unknown) =>
  checkDefinition(def)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');

const profile = { name: 'p', provider: 'offline', model: 'm' };
const agent = (name: string, extra: Record<string, unknown> = {}) => ({
  kind: 'agent',
  name,
  dependsOn: [],
  profile,
  prompt: '{{input}}',
  ...extra,
});
const def = (...steps: unknown[]) => ({ name: 'x', steps });

test('definitions from the builders, every example ensemble and every recorded run input pass', () => {
  expect(
    checkDefinition(
      chain('c', [
        { name: 'a', profile: 'offline' },
        { name: 'b', profile: 'offline' },
      ]),
    ),
  ).toEqual([]);
  expect(
    checkDefinition(fanOutJoin('f', [{ name: 'a', profile: 'offline' }], { name: 'j', profile: 'offline' })),
  ).toEqual([]);
  const dir = join(root, 'examples', 'ensembles');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')))
    expect([f, checkDefinition(loadEnsembleFile(join(dir, f)))]).toEqual([f, []]);
  // Runs recorded by earlier versions replay through the same check in the workflow.
  const histories = join(root, 'test', 'histories');
  let checked = 0;
  for (const f of readdirSync(histories).filter((x) => x.endsWith('.json'))) {
    const events = JSON.parse(readFileSync(join(histories, f), 'utf8')).events as any[];
    const started = events[0].workflowExecutionStartedEventAttributes;
    if (started.workflowType.name !== 'batonRun') continue;
    const input = JSON.parse(Buffer.from(started.input.payloads[0].data, 'base64').toString('utf8'));
    expect([f, checkRunInput(input)]).toEqual([f, []]);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
});

test.each([
  [null, /\(root\): expected the resolved ensemble \{ name, steps \}/],
  [{ name: 'x', steps: [] }, /steps: a definition needs at least one step/],
  [def(null), /steps\[0\]/],
  [def(agent('a', { dependsOn: ['zz'] })), /steps\[0\]\.dependsOn\[0\]: unknown step 'zz'/],
  [
    def(agent('a', { dependsOn: ['b'] }), agent('b', { dependsOn: ['a'] })),
    /dependency cycle: (a -> b -> a|b -> a -> b)/,
  ],
  [def(agent('a', { dependsOn: ['a'] })), /a step cannot depend on itself/],
  [
    def(agent('a', { prompt: '{{constructor.constructor}}' })),
    /steps\[0\]\.prompt: .*unknown step 'constructor'/,
  ],
  [
    def(agent('a', { prompt: '{{__proto__}}' })),
    /steps\[0\]\.prompt: .*unknown step '__proto__'|invalid placeholder/,
  ],
  [def(agent('a'), agent('b', { prompt: '{{a}}' })), /does not run before 'b'; add it to dependsOn/],
  [def(agent('a', { prompt: '{{item}}' })), /only defined in a fan-out step/],
  [def(agent('a', { prompt: 'x {{ input' })), /unclosed placeholder/],
  [{ name: '../../etc/passwd', steps: [agent('a')] }, /^name: /],
  [def(agent('../../etc/passwd')), /steps\[0\]\.name: a step name/],
  [def(agent('input')), /reserved in templates/],
  [
    def(agent('a', { profile: { ...profile, provider: 'evil' } })),
    /steps\[0\]\.profile\.provider: expected a provider/,
  ],
  [def(agent('a', { profile: 'offline' })), /steps\[0\]\.profile/],
  [
    def(agent('a', { profile: { ...profile, baseURL: 'https://u:k@h/v1' } })),
    /profile\.baseURL: .*without user/,
  ],
  [def(agent('a', { profile: { ...profile, apiKeyEnv: 'sk-123' } })), /profile\.apiKeyEnv/],
  [def(agent('a', { timeout: 'banana' })), /steps\[0\]\.timeout: expected a duration/],
  [def(agent('a', { timeout: '0s' })), /longer than zero/],
  [def({ kind: 'magic', name: 'a', dependsOn: [] }), /steps\[0\]\.kind: expected a step of kind/],
  [
    def({
      kind: 'loop',
      name: 'l',
      dependsOn: [],
      maxIterations: 0,
      until: { ref: 'a', op: 'truthy' },
      body: [agent('a')],
    }),
    /steps\[0\]\.maxIterations/,
  ],
  [
    def({
      kind: 'loop',
      name: 'l',
      dependsOn: [],
      maxIterations: 2,
      until: { ref: 'zz', op: 'truthy' },
      body: [agent('a')],
    }),
    /until must read a step of this loop's body/,
  ],
  [
    def({ kind: 'approval', name: 'g', dependsOn: [], present: '', deadline: '1h', onTimeout: 'escalate' }),
    /escalationDeadline/,
  ],
  [{ ...def(agent('a')), output: 'nope' }, /output: unknown step 'nope'/],
])('%j is refused, naming the field', (value, message) => {
  expect(messages(value)).toMatch(message);
  expect(() => parseDefinition(value)).toThrow(/the definition cannot run/);
});

test('run input: the wrapper, the input string and the options are checked', () => {
  expect(checkRunInput({ definition: def(agent('a')), input: 'x' })).toEqual([]);
  expect(checkRunInput(def(agent('a')))[0]!.path).toBe('definition');
  expect(checkRunInput({ definition: def(agent('a')), input: 1 })[0]!.path).toBe('input');
  expect(
    checkRunInput({ definition: def(agent('a')), input: 'x', options: { heartbeatTimeout: 'banana' } })[0]!
      .path,
  ).toBe('options.heartbeatTimeout');
  // Fields a newer version adds pass through untouched.
  expect(
    checkRunInput({ definition: { ...def(agent('a', { future: 1 })), later: true }, input: 'x' }),
  ).toEqual([]);
});

test('run ids: a length limit and a safe character set', () => {
  expect(runIdSchema.safeParse('order-42.retry:1').success).toBe(true);
  for (const bad of ['', 'x'.repeat(256), '../x', 'a b', 'a/b', '-x', 'é'])
    expect([bad, runIdSchema.safeParse(bad).success]).toEqual([bad, false]);
});

test('an unknown provider is refused at load, and the worker has no silent case for one', () => {
  const yaml = 'name: x\nagents:\n  - name: a\n    provider: evil\n    model: m\n';
  expect(() => loadEnsembleText(yaml, 'x.yaml', { config: { profiles: {}, files: [] } })).toThrow(
    EnsembleError,
  );
  expect(() => loadEnsembleText(yaml, 'x.yaml', { config: { profiles: {}, files: [] } })).toThrow(/provider/);
  const evil = { name: 'p', provider: 'evil', model: 'm' } as unknown as ModelProfile;
  expect(() => new ProviderRegistry({}).get(evil)).toThrow(
    /provider 'evil', which this worker does not know/,
  );
});
