/** `fallback_profiles` on profiles and steps: resolution into `profile.fallbacks`, and refusals. */
import {
  agentProfiles,
  EnsembleError,
  loadEnsembleText,
  toModelProfile,
  type LoadOptions,
} from '../../src/config';
import { checkDefinition } from '../../src/config/definition-schema';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import { chain } from '../../src/define';
import type { AgentStep } from '../../src/types';
import { fallbackReason } from '../../src/workflows/fallbacks';

const NO_CONFIG: LoadOptions = { config: { profiles: {}, files: [] } };
const yaml = (...lines: string[]) => lines.join('\n') + '\n';

const ENSEMBLE = yaml(
  'name: fb',
  'profiles:',
  '  primary:',
  '    provider: anthropic',
  '    model: claude-test',
  '    fallback_profiles: [backup, gemini-flash]',
  '  backup:',
  '    provider: openai',
  '    model: gpt-test',
  '    fallback_profiles: [primary]',
  'agents:',
  '  - name: a',
  '    model_profile: primary',
  '    max_tokens: 50',
  '  - name: b',
  '    model_profile: primary',
  '    fallback_profiles: [gemini-pro]',
  '  - name: c',
  '    model_profile: primary',
  '    fallback_profiles: []',
  '  - name: d',
  '    provider: openai',
  '    model: gpt-4o',
  '    fallback_profiles: [primary]',
);

test("a profile's fallback_profiles become the step's resolved fallbacks; the step's overrides apply to each", () => {
  const def = loadEnsembleText(ENSEMBLE, 'fb.yaml', NO_CONFIG);
  const [a, b, c, d] = def.steps as AgentStep[];
  expect(a!.profile.name).toBe('primary');
  expect(a!.profile.fallbacks!.map((f) => [f.name, f.provider, f.model, f.maxTokens])).toEqual([
    ['backup', 'openai', 'gpt-test', 50],
    ['gemini-flash', 'gemini', 'gemini-2.5-flash', 50],
  ]);
  // Flat: a fallback's own fallback_profiles are not followed, and names do not travel in the run.
  expect(a!.profile.fallbacks![0]!.fallbacks).toBeUndefined();
  expect(JSON.stringify(def)).not.toContain('fallbackProfiles');
  // A step's own list replaces the profile's; [] turns fallbacks off.
  expect(b!.profile.fallbacks!.map((f) => f.name)).toEqual(['gemini-pro']);
  expect(c!.profile.fallbacks).toBeUndefined();
  // An inline model may fall back to a named profile.
  expect(d!.profile.fallbacks!.map((f) => f.name)).toEqual(['primary']);
  // `baton run`'s own worker allows the endpoints of the fallbacks too.
  expect(
    agentProfiles(def)
      .filter((p) => p.step === 'a')
      .map((p) => p.profile.name),
  ).toEqual(['primary', 'backup', 'gemini-flash']);
  // The resolved definition passes the schema a worker checks.
  expect(checkDefinition(def)).toEqual([]);
  expect(
    checkDefinition({ ...def, steps: [{ ...a, profile: { ...a!.profile, fallbacks: [{ name: 'x' }] } }] }),
  ).not.toEqual([]);
});

function refusal(text: string): EnsembleError {
  try {
    loadEnsembleText(text, 'e.yaml', NO_CONFIG);
  } catch (e) {
    if (e instanceof EnsembleError) return e;
    throw e;
  }
  throw new Error('expected the ensemble to be refused');
}

test('an unknown fallback profile is refused with its path, on a profile and on a step', () => {
  const err = refusal(
    yaml(
      'name: fb',
      'profiles:',
      '  primary: { provider: openai, model: m, fallback_profiles: [nope] }',
      'agents:',
      '  - { name: a, model_profile: primary, fallback_profiles: [gpt-4o, nada] }',
    ),
  );
  const issues = err.issues.map((i) => [i.path, i.message]);
  expect(issues).toEqual(
    expect.arrayContaining([
      ['profiles.primary.fallback_profiles[0]', expect.stringContaining("unknown model profile 'nope'")],
      ['agents[0].fallback_profiles[1]', expect.stringContaining("unknown model profile 'nada'")],
    ]),
  );
});

test('a profile that names itself as its fallback is refused', () => {
  const err = refusal(
    yaml(
      'name: fb',
      'profiles:',
      '  primary: { provider: openai, model: m, fallback_profiles: [primary] }',
      'agents:',
      '  - { name: a, model_profile: primary }',
    ),
  );
  expect(err.issues.map((i) => i.path)).toContain('profiles.primary.fallback_profiles[0]');
  expect(err.message).toContain("profile 'primary' names itself as a fallback");
});

test("a config file's profile with an unknown fallback is refused where a step uses it", () => {
  const profiles = {
    team: toModelProfile('team', { provider: 'openai', model: 'm', fallback_profiles: ['ghost'] }),
  };
  try {
    loadEnsembleText(yaml('name: fb', 'agents:', '  - { name: a, model_profile: team }'), 'e.yaml', {
      config: { profiles, files: [] },
    });
    throw new Error('expected a refusal');
  } catch (e) {
    expect(e).toBeInstanceOf(EnsembleError);
    expect((e as EnsembleError).message).toContain("profile 'team' names fallback profile 'ghost'");
  }
});

test('fallback_profiles must be a list of names', () => {
  const err = refusal(
    yaml('name: fb', 'agents:', '  - { name: a, model_profile: gpt-4o, fallback_profiles: claude-haiku }'),
  );
  expect(err.issues[0]!.path).toBe('agents[0].fallback_profiles');
});

test('which failures move a call to the next profile (the list docs/ensembles.md gives)', () => {
  const failed = (cause: Error) =>
    new ActivityFailure('activity failed', 'callModel', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'w', cause);
  const app = (type: string) => failed(ApplicationFailure.create({ type, message: `${type}!` }));
  for (const type of [
    'ModelAuthError',
    'ModelQuotaError',
    'ModelBadRequest',
    'ModelConfigError',
    'EndpointNotAllowed',
    'ModelRateLimited',
    'ModelServerError',
    'ModelTransientError',
  ])
    expect(fallbackReason(app(type))).toEqual({ type, message: `${type}!` });
  expect(
    fallbackReason(failed(new TimeoutFailure('t', undefined, TimeoutType.START_TO_CLOSE))),
  ).toMatchObject({
    type: 'Timeout',
  });
  // Not provider failures: a schema that cannot compile, a cancelled call, a budget stop, a bug.
  expect(fallbackReason(app('InvalidDefinition'))).toBeUndefined();
  expect(fallbackReason(failed(new CancelledFailure('cancelled')))).toBeUndefined();
  expect(fallbackReason(ApplicationFailure.create({ type: 'BudgetExceeded', message: 'x' }))).toBeUndefined();
  expect(fallbackReason(new Error('bug'))).toBeUndefined();
});

test('the example in docs/ensembles.md loads', () => {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/ensembles.md'), 'utf8');
  const section = doc.slice(doc.indexOf('#### Fallback profiles'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
  const def = loadEnsembleText(`name: doc-example\n${example}`, 'doc.yaml', NO_CONFIG);
  const [draft, check] = def.steps as AgentStep[];
  expect(draft!.profile.fallbacks!.map((f) => f.name)).toEqual(['gemini-flash', 'gpt-4o']);
  expect(check!.profile.fallbacks).toBeUndefined();
});

test("in TypeScript, chain() takes fallbacks by name or in full, and resolves a profile's fallbackProfiles", () => {
  const team = toModelProfile('team', {
    provider: 'openai',
    model: 'm',
    fallback_profiles: ['claude-haiku'],
  });
  const def = chain(
    'ts',
    [
      { name: 'a', profile: 'team' },
      {
        name: 'b',
        profile: 'team',
        fallbacks: ['gemini-flash', { name: 'x', provider: 'offline', model: 'o' }],
      },
      { name: 'c', profile: 'team', fallbacks: [] },
    ],
    { profiles: { team } },
  );
  const [a, b, c] = def.steps as AgentStep[];
  expect(a!.profile.fallbacks!.map((f) => f.name)).toEqual(['claude-haiku']);
  expect(b!.profile.fallbacks!.map((f) => f.name)).toEqual(['gemini-flash', 'x']);
  expect(c!.profile.fallbacks).toBeUndefined();
  expect(JSON.stringify(def)).not.toContain('fallbackProfiles');
});
