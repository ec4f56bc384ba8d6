import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  agentProfiles,
  EnsembleError,
  loadConfig,
  loadEnsembleFile,
  loadEnsembleText,
  missingKeysMessage,
} from '../../src/config';
import { providerSchema } from '../../src/config/profiles';
import {
  convertPredicate,
  formatReport,
  importLlmOrc,
  isLlmOrcFile,
  loadLlmOrcEnsemble,
  looksLikeLlmOrc,
  writeImport,
  type ImportNote,
} from '../../src/config/llm-orc';
import { checkDefinition } from '../../src/config/definition-schema';
import { renderTemplate } from '../../src/workflows/template';

const root = join(__dirname, '..', 'fixtures', 'llm-orc');
const ensembles = join(root, '.llm-orc', 'ensembles');
const env = { OLLAMA_HOST: 'http://127.0.0.1:9' };
const imp = importLlmOrc(root, { env, cwd: root });
const note = (file: string, path: string): ImportNote | undefined =>
  imp.notes.find((n) => n.file === file && n.path === path);

describe('baton import llm-orc: the report', () => {
  test.each<[string, string, ImportNote['action'], RegExp]>([
    // Profiles (config.yaml)
    [
      '.llm-orc/config.yaml',
      'model_profiles.quick-local.provider',
      'changed',
      /openai-compatible.*127\.0\.0\.1:9\/v1/,
    ],
    ['.llm-orc/config.yaml', 'model_profiles.quick-local.system_prompt', 'mapped', /system_prompt/],
    ['.llm-orc/config.yaml', 'model_profiles.quick-local.timeout_seconds', 'changed', /timeout: '45s'/],
    [
      '.llm-orc/config.yaml',
      'model_profiles.claude-api.cost_per_token',
      'changed',
      /pricing: 3 USD per million/,
    ],
    ['.llm-orc/config.yaml', 'model_profiles.claude-api.provider', 'changed', /anthropic.*ANTHROPIC_API_KEY/],
    ['.llm-orc/config.yaml', 'model_profiles.claude-subscription.provider', 'unsupported', /subscription/],
    ['.llm-orc/config.yaml', 'performance', 'unsupported', /no Baton counterpart/],
    // Ensembles
    ['.llm-orc/ensembles/review-chain.yaml', 'default_task', 'changed', /default_input/],
    ['.llm-orc/ensembles/review-chain.yaml', 'agents[2]', 'changed', /composition/],
    ['.llm-orc/ensembles/topic-splitter.yaml', 'agents[0].output_format', 'changed', /output_schema/],
    ['.llm-orc/ensembles/topic-splitter.yaml', 'agents[1].input_key', 'mapped', /key 'topics' of classifier/],
    ['.llm-orc/ensembles/topic-splitter.yaml', 'agents[1].fan_out', 'mapped', /one instance per item/],
    ['.llm-orc/ensembles/triage-conditions.yaml', 'agents[1].depends_on', 'changed', /condition becomes/],
    [
      '.llm-orc/ensembles/triage-conditions.yaml',
      'agents[1].depends_on[0].condition',
      'changed',
      /"equals":true/,
    ],
    ['.llm-orc/ensembles/triage-conditions.yaml', 'agents[3].when', 'changed', /"truthy":true/],
    ['.llm-orc/ensembles/routing-demo.yaml', 'agents[1].ensemble', 'changed', /research\/topic-brief\.yaml/],
    [
      '.llm-orc/ensembles/scripted-chunks.yaml',
      'agents[0].script',
      'changed',
      /kind: script, command: chunking-split/,
    ],
    ['.llm-orc/ensembles/scripted-chunks.yaml', 'agents[0].parameters', 'mapped', /parameters/],
    ['.llm-orc/ensembles/scripted-chunks.yaml', 'agents[0].timeout_seconds', 'mapped', /timeout_seconds/],
    ['.llm-orc/ensembles/scripted-chunks.yaml', 'agents[1].timeout_seconds', 'changed', /timeout: '60s'/],
    [
      '.llm-orc/ensembles/resilient-summary.yaml',
      'agents[0].fallback_model_profile',
      'changed',
      /fallback_profiles: \[quick-local\]/,
    ],
    ['.llm-orc/ensembles/resilient-summary.yaml', 'agents[0].output_format', 'mapped', /default/],
    [
      '.llm-orc/ensembles/scoped-verifier.yaml',
      'agents[1].input_scope',
      'changed',
      /dependencies' outputs only/,
    ],
    ['.llm-orc/ensembles/scoped-verifier.yaml', 'agents[1].options', 'unsupported', /left out/],
    [
      '.llm-orc/ensembles/subscription-review.yaml',
      'agents[0].model_profile',
      'unsupported',
      /could not be converted/,
    ],
    ['.llm-orc/ensembles/refine-loop.yaml', 'agents[0].loop', 'unsupported', /not converted/],
  ])('%s %s: %s', (file, path, action, message) => {
    const n = note(file, path);
    expect(n).toMatchObject({ action });
    expect(n!.message).toMatch(message);
  });

  test('every ensemble is listed; the loop one is refused, the others convert', () => {
    expect(imp.ensembles.map((e) => e.name).sort()).toEqual([
      'qa-pipeline',
      'refine-loop',
      'resilient-summary',
      'review-chain',
      'routing-demo',
      'scoped-verifier',
      'scripted-chunks',
      'subscription-review',
      'topic-brief',
      'topic-splitter',
      'triage-conditions',
    ]);
    expect(imp.ensembles.filter((e) => !e.baton).map((e) => e.name)).toEqual(['refine-loop']);
    expect(Object.keys(imp.profiles).sort()).toEqual([
      'careful-local',
      'claude-api',
      'gemini-flash',
      'quick-local',
    ]);
    expect(formatReport(imp)).toMatch(
      /10 of 11 ensembles converted, 4 profiles; fields: \d+ mapped, \d+ changed, \d+ unsupported/,
    );
  });
});

describe('baton import llm-orc: the written files', () => {
  const out = mkdtempSync(join(tmpdir(), 'baton-llm-orc-out-'));
  const written = writeImport(imp, out);
  const config = loadConfig({ local: out });

  test('writes config.yaml, ensembles/ in the same layout and worker-scripts.yaml', () => {
    expect(written.files.map((f) => f.slice(out.length + 1)).sort()).toEqual(
      [
        'config.yaml',
        'ensembles/qa-pipeline.yaml',
        'ensembles/research/topic-brief.yaml',
        'ensembles/resilient-summary.yaml',
        'ensembles/review-chain.yaml',
        'ensembles/routing-demo.yaml',
        'ensembles/scoped-verifier.yaml',
        'ensembles/scripted-chunks.yaml',
        'ensembles/subscription-review.yaml',
        'ensembles/topic-splitter.yaml',
        'ensembles/triage-conditions.yaml',
        'worker-scripts.yaml',
      ].sort(),
    );
    const scripts = parse(readFileSync(join(out, 'worker-scripts.yaml'), 'utf8'));
    expect(scripts.scripts['chunking-split'].argv).toEqual([
      'python3',
      join(root, '.llm-orc', 'scripts', 'chunking', 'split.py'),
    ]);
    const step = parse(readFileSync(join(out, 'ensembles', 'scripted-chunks.yaml'), 'utf8')).agents[0];
    expect(step).toEqual({
      name: 'chunker',
      kind: 'script',
      command: 'chunking-split',
      parameters: { max_chars: 400, overlap: 20 },
      timeout_seconds: 30,
    });
    expect(config.profiles['quick-local']).toMatchObject({
      provider: 'openai-compatible',
      baseURL: 'http://127.0.0.1:9/v1',
      timeout: '45s',
      systemPrompt: 'You are QUICKLOCAL, a fast local analyst.',
      pricing: { inputPerMTok: 0, outputPerMTok: 0 },
    });
  });

  const plain = [
    'qa-pipeline',
    'research/topic-brief',
    'review-chain',
    'routing-demo',
    'scoped-verifier',
    'topic-splitter',
    'triage-conditions',
  ];
  test.each(plain)('converted %s validates', (name) => {
    const def = loadEnsembleFile(join(out, 'ensembles', `${name}.yaml`), { config });
    expect(def.steps.length).toBeGreaterThan(0);
  });

  test('converted scripted-chunks validates (needs kind: script)', () => {
    expect(loadEnsembleFile(join(out, 'ensembles', 'scripted-chunks.yaml'), { config }).steps).toHaveLength(
      3,
    );
  });
  test('converted resilient-summary validates (needs fallback_profiles)', () => {
    expect(loadEnsembleFile(join(out, 'ensembles', 'resilient-summary.yaml'), { config }).steps).toHaveLength(
      1,
    );
  });

  test('the profile system prompt reaches agents without their own; the ensemble step embeds its child', () => {
    const def = loadEnsembleFile(join(out, 'ensembles', 'routing-demo.yaml'), { config });
    const [classifier, briefs, , synth] = def.steps;
    expect(classifier).toMatchObject({ kind: 'agent', system: 'You are QUICKLOCAL, a fast local analyst.' });
    expect(synth).toMatchObject({ kind: 'agent', system: 'You are SYNTHESIZER.' });
    expect(briefs).toMatchObject({
      kind: 'ensemble',
      ensemble: 'research/topic-brief.yaml',
      inputKey: 'topics',
      fanOut: { from: 'classifier' },
      prompt: '{{item}}',
      definition: { name: 'topic-brief', defaultInput: 'Brief the topic of durable execution.' },
    });
  });

  test('the subscription ensemble is still written, with its model_profile reported unsupported', () => {
    expect(existsSync(join(out, 'ensembles', 'subscription-review.yaml'))).toBe(true);
  });
});

describe('baton run <llm-orc file>: detection and refusals', () => {
  test('an llm-orc file is recognised by its place or its shape', () => {
    expect(isLlmOrcFile(join(ensembles, 'qa-pipeline.yaml'))).toBe(true);
    expect(looksLikeLlmOrc({ name: 'x', agents: [{ name: 'a', script: 'a.py' }] })).toBe(true);
    expect(looksLikeLlmOrc({ name: 'x', default_task: 't', agents: [{ name: 'a' }] })).toBe(true);
    expect(looksLikeLlmOrc({ name: 'x', agents: [{ name: 'a', depends_on: [{ agent_name: 'b' }] }] })).toBe(
      true,
    );
    expect(looksLikeLlmOrc({ name: 'x', agents: [{ name: 'a', model_profile: 'offline' }] })).toBe(false);
    expect(isLlmOrcFile(join(__dirname, '..', '..', 'examples', 'ensembles', 'code-review.yaml'))).toBe(
      false,
    );
  });

  test('a mappable file loads as a definition, with the report', () => {
    const { definition, report } = loadLlmOrcEnsemble(join(ensembles, 'triage-conditions.yaml'), {
      env,
      cwd: root,
    });
    expect(definition.steps.map((s) => [s.name, s.when])).toEqual([
      ['gate', undefined],
      ['escalate', { ref: 'gate.urgent', op: 'equals', value: true }],
      ['file-ticket', { ref: 'gate.urgent', op: 'equals', value: false }],
      ['notify', { ref: 'gate.area', op: 'truthy' }],
    ]);
    expect(report).toMatch(/triage-conditions\.yaml/);
  });

  test.each<[string, RegExp[]]>([
    ['refine-loop.yaml', [/refine-loop\.yaml {2}agents\[0\]\.loop {2}cannot be mapped/]],
    [
      'subscription-review.yaml',
      [
        /config\.yaml {2}model_profiles\.claude-subscription\.provider {2}cannot be mapped/,
        /subscription-review\.yaml {2}agents\[0\]\.model_profile {2}cannot be mapped/,
      ],
    ],
    ['scoped-verifier.yaml', [/scoped-verifier\.yaml {2}agents\[1\]\.options {2}cannot be mapped/]],
  ])('%s is refused before anything starts, naming file and field', (file, patterns) => {
    let error: unknown;
    try {
      loadLlmOrcEnsemble(join(ensembles, file), { env, cwd: root });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnsembleError);
    for (const p of patterns) expect((error as Error).message).toMatch(p);
    expect((error as Error).message).toMatch(/nothing was started/);
  });

  test('config settings outside the profiles it uses do not block a run', () => {
    // performance/project are unsupported, and so is the claude-subscription profile, but qa-pipeline uses neither.
    expect(loadLlmOrcEnsemble(join(ensembles, 'qa-pipeline.yaml'), { env, cwd: root }).definition.name).toBe(
      'qa-pipeline',
    );
  });

  test('a condition that is not llm-orc predicate syntax is refused with its path', () => {
    const imp2 = importLlmOrc(join(__dirname, '..', 'fixtures', 'llm-orc-bad', 'ensembles', 'bad.yaml'), {
      env,
    });
    const n = imp2.notes.find((x) => x.path === 'agents[1].depends_on[0].condition');
    expect(n).toMatchObject({ action: 'unsupported' });
    expect(n!.message).toMatch(/not of the form/);
    const m = imp2.notes.find((x) => x.path === 'agents[2].depends_on[0].max_executions');
    expect(m).toMatchObject({ action: 'unsupported' });
  });
});

describe('Baton features behind the mapping', () => {
  const base = (agents: string) =>
    loadEnsembleText(`name: t\nagents:\n${agents}`, 't.yaml', { config: { profiles: {}, files: [] } });

  test('{{chunk_index}} and {{total_chunks}} render in a fan-out instance and are refused elsewhere', () => {
    expect(
      renderTemplate('{{chunk_index}}/{{total_chunks}}: {{item}}', {
        input: '',
        steps: {},
        item: 'x',
        chunk: { index: 2, total: 5 },
      }),
    ).toBe('2/5: x');
    expect(() => base('  - name: a\n    model_profile: offline\n    prompt: "{{chunk_index}}"\n')).toThrow(
      /\{\{chunk_index\}\} is only defined in a fan_out step/,
    );
  });

  test('input_key needs depends_on', () => {
    expect(() => base('  - name: a\n    model_profile: offline\n    input_key: topics\n')).toThrow(
      /input_key reads a key of the first depends_on step/,
    );
  });

  test('a child ensemble that leads back to its parent is refused', () => {
    expect(() => loadEnsembleFile(join(__dirname, '..', 'fixtures', 'llm-orc-bad', 'cycle-a.yaml'))).toThrow(
      /leads back to itself: cycle-a\.yaml -> cycle-b\.yaml -> cycle-a\.yaml/,
    );
    expect(() => base('  - name: a\n    ensemble: no-such-ensemble\n')).toThrow(
      /no ensemble 'no-such-ensemble'/,
    );
  });

  test('a profile system_prompt applies unless the step sets its own', () => {
    const def = loadEnsembleText(
      'name: t\nprofiles:\n  p: { provider: offline, model: m, system_prompt: FROM-PROFILE }\nagents:\n  - name: a\n    model_profile: p\n  - name: b\n    model_profile: p\n    system_prompt: OWN\n',
      't.yaml',
      { config: { profiles: {}, files: [] } },
    );
    expect(def.steps.map((s) => (s.kind === 'agent' ? [s.system, s.profile.systemPrompt] : []))).toEqual([
      ['FROM-PROFILE', undefined],
      ['OWN', undefined],
    ]);
  });
});

test("the run schema checks a child ensemble's definition too (every door: HTTP, client, workflow)", () => {
  const child = {
    name: 'child',
    steps: [
      {
        kind: 'agent',
        name: 'a',
        dependsOn: ['ghost'],
        profile: { name: 'offline', provider: 'offline', model: 'm' },
        prompt: '{{input}}',
      },
    ],
  };
  const issues = checkDefinition({
    name: 'parent',
    steps: [
      {
        kind: 'ensemble',
        name: 'sub',
        dependsOn: [],
        ensemble: 'child',
        prompt: '{{input}}',
        definition: child,
      },
    ],
  } as never);
  expect(issues).toEqual([
    expect.objectContaining({
      path: 'steps[0].definition.steps[0].dependsOn[0]',
      message: "unknown step 'ghost'",
    }),
  ]);
});

describe('more of the mapping table', () => {
  test('llm-orc predicates: truthy, ==, != and literals', () => {
    expect(convertPredicate('${gate.ok}')).toEqual({ ref: 'gate.ok', truthy: true });
    expect(convertPredicate('${gate.n} == 3')).toEqual({ ref: 'gate.n', equals: 3 });
    expect(convertPredicate("${gate.kind} != 'bug'")).toEqual({ ref: 'gate.kind', not_equals: 'bug' });
    expect(convertPredicate("context.get('x')")).toMatch(/not of the form/);
  });

  test('providers: ollama at localhost without OLLAMA_HOST, openai-compatible with and without base_url', () => {
    const p = importLlmOrc(join(__dirname, '..', 'fixtures', 'llm-orc-providers'), { env: {} }).profiles;
    expect(p.local).toMatchObject({ provider: 'openai-compatible', base_url: 'http://localhost:11434/v1' });
    expect(p.gateway).toMatchObject({ provider: 'openai-compatible', base_url: 'https://llm.internal/v1' });
    expect(p['plain-openai']).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
  });

  test('google-gemini becomes the gemini provider, reported as changed', () => {
    const n = note('.llm-orc/config.yaml', 'model_profiles.gemini-flash.provider')!;
    expect(providerSchema.safeParse('gemini').success).toBe(true);
    expect(n.action).toBe('changed');
  });

  test('a dispatch agent or a condition in another syntax keeps the ensemble from being converted', () => {
    const bad = importLlmOrc(join(__dirname, '..', 'fixtures', 'llm-orc-bad', 'ensembles'), { env });
    expect(bad.ensembles.map((e) => [e.name, Boolean(e.baton)])).toEqual([
      ['bad', false],
      ['dispatch', false],
    ]);
    expect(bad.notes.find((x) => x.path === 'agents[1].dispatch')).toMatchObject({ action: 'unsupported' });
  });

  test('an ensemble step without kind, found by name in the config directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-child-'));
    mkdirSync(join(dir, '.baton', 'ensembles'), { recursive: true });
    writeFileSync(
      join(dir, '.baton', 'ensembles', 'helper.yaml'),
      'name: helper\nagents:\n  - name: h\n    model_profile: offline\n',
    );
    writeFileSync(join(dir, 'main.yaml'), 'name: main\nagents:\n  - name: call\n    ensemble: helper\n');
    const def = loadEnsembleFile(join(dir, 'main.yaml'), { cwd: dir, env: { HOME: dir } });
    expect(def.steps[0]).toMatchObject({
      kind: 'ensemble',
      ensemble: 'helper',
      definition: { name: 'helper' },
    });
  });
});

test("keys and endpoints checked before a run include a child ensemble's agents", () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-child-keys-'));
  writeFileSync(
    join(dir, 'child.yaml'),
    'name: child\nagents:\n  - name: w\n    provider: anthropic\n    model: claude-x\n',
  );
  writeFileSync(join(dir, 'parent.yaml'), 'name: parent\nagents:\n  - name: sub\n    ensemble: child\n');
  const def = loadEnsembleFile(join(dir, 'parent.yaml'), { config: { profiles: {}, files: [] } });
  expect(agentProfiles(def).map((a) => a.step)).toEqual(['sub/w']);
  expect(missingKeysMessage(def, {})).toMatch(/ANTHROPIC_API_KEY is not set \(needed by sub\/w/);
});
