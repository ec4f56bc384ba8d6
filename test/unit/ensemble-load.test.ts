import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BUILTIN_PROFILES,
  EnsembleError,
  findConfigDirs,
  findEnsemble,
  listEnsembles,
  loadConfig,
  loadEnsembleFile,
  loadEnsembleText,
  type LoadOptions,
} from '../../src/config';
import type { AgentStep, ApprovalStep, EnsembleDefinition, LoopStep } from '../../src/types';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'ensembles');
/** No config files: only built-in and ensemble-local profiles, so tests never read ~/.config. */
const NO_CONFIG: LoadOptions = { config: { profiles: {}, files: [] } };

function load(name: string, opts: LoadOptions = NO_CONFIG): EnsembleDefinition {
  return loadEnsembleFile(path.join(FIXTURES, `${name}.yaml`), opts);
}

/** Lines joined with newlines, so a test can count lines by eye. */
const yaml = (...lines: string[]) => lines.join('\n') + '\n';

function refusal(text: string, opts: LoadOptions = {}): EnsembleError {
  try {
    loadEnsembleText(text, 'e.yaml', { ...NO_CONFIG, ...opts });
  } catch (e) {
    if (e instanceof EnsembleError) return e;
    throw e;
  }
  throw new Error('expected the ensemble to be refused');
}

/** The issue at `path` is at `line`, says `text`, and the error message shows it as file:line:col  path  message. */
function expectIssue(error: EnsembleError, fieldPath: string, line: number, text: string): void {
  const issue = error.issues.find((i) => i.path === fieldPath && i.message.includes(text));
  if (!issue) throw new Error(`no issue at ${fieldPath} containing "${text}"; got:\n${error.message}`);
  expect(issue.line).toBe(line);
  expect(issue.file).toBe('e.yaml');
  expect(error.message).toContain(`e.yaml:${line}:${issue.column}  ${fieldPath}  ${issue.message}`);
}

const agent = (name: string, ...extra: string[]) => [
  `  - name: ${name}`,
  `    model_profile: offline`,
  ...extra.map((l) => `    ${l}`),
];

describe('valid ensembles resolve field by field', () => {
  it('code-review: profiles, defaults, retry, budget, approval', () => {
    const def = load('code-review');
    expect(def.name).toBe('code-review');
    expect(def.description).toBe('Parallel reviewers and a synthesizer');
    expect(def.output).toBe('synthesize');
    expect(def.budget).toEqual({ maxCostUsd: 0.5, maxTokens: 200000 });
    expect(def.steps.map((s) => s.name)).toEqual([
      'security',
      'performance',
      'style',
      'synthesize',
      'ship-it',
    ]);

    const [security, performance, style, synthesize, shipIt] = def.steps as [
      AgentStep,
      AgentStep,
      AgentStep,
      AgentStep,
      ApprovalStep,
    ];
    expect(security).toEqual({
      kind: 'agent',
      name: 'security',
      dependsOn: [],
      profile: {
        name: 'fast',
        provider: 'openai',
        model: 'gpt-4o-mini',
        pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6 },
      },
      system: 'You review code for security.',
      prompt: 'Review this code:\n{{input}}',
      timeout: '30s',
      retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
    });
    // A built-in profile with a per-agent override.
    expect(performance.profile).toEqual({ ...BUILTIN_PROFILES['claude-haiku'], temperature: 0.2 });
    // No model_profile: the ensemble's default_profile; no prompt at a root: the input.
    expect(style.profile).toEqual(BUILTIN_PROFILES.offline);
    expect(style.prompt).toBe('{{input}}');
    expect(style.system).toBe('You care about readable code.');
    // No prompt with dependencies: each upstream output under a heading.
    expect(synthesize.dependsOn).toEqual(['security', 'performance', 'style']);
    expect(synthesize.prompt).toBe(
      '## security\n{{steps.security}}\n\n## performance\n{{steps.performance}}\n\n## style\n{{steps.style}}',
    );
    expect(shipIt).toEqual({
      kind: 'approval',
      name: 'ship-it',
      dependsOn: ['synthesize'],
      present: '{{steps.synthesize}}',
      deadline: '2h',
      onTimeout: 'escalate',
      escalationDeadline: '1h',
    });
  });

  it('triage-router: steps synonym, inline model, conditions, tools, fan-out, output schema', () => {
    const def = load('triage-router');
    expect(def.output).toBe('summary'); // last declared step
    expect(def.budget).toBeUndefined();
    const byName = Object.fromEntries(def.steps.map((s) => [s.name, s])) as Record<string, AgentStep>;
    expect(byName.triage!.profile).toEqual({
      name: 'anthropic/claude-haiku-4-5',
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
      maxTokens: 1024,
      pricing: { inputPerMTok: 1, outputPerMTok: 5 },
    });
    expect(byName.triage!.outputSchema).toEqual({
      type: 'object',
      properties: {
        category: { type: 'string', enum: ['billing', 'bug', 'other'] },
        urgent: { type: 'boolean' },
        items: { type: 'array', items: { type: 'string' } },
      },
      required: ['category', 'urgent', 'items'],
    });
    expect(byName.billing!.when).toEqual({ ref: 'triage.category', op: 'equals', value: 'billing' });
    expect(byName.billing!.tools).toEqual([
      { name: 'lookup_invoice' },
      { name: 'refund', requiresApproval: true },
    ]);
    expect(byName.billing!.maxIterations).toBe(6);
    expect(byName['page-oncall']!.when).toEqual({ ref: 'triage.urgent', op: 'truthy' });
    expect(byName['page-oncall']!.prompt).toBe('## triage\n{{steps.triage}}');
    expect(byName['line-item']!.fanOut).toEqual({ from: 'extract-items', maxConcurrency: 4 });
    expect(byName.summary!.when).toEqual({ ref: 'triage.category', op: 'not_equals', value: 'other' });
  });

  it('refine-loop: loop body, until, body default prompts, default on_timeout', () => {
    const def = load('refine-loop');
    const [draft, refine, publish] = def.steps as [AgentStep, LoopStep, ApprovalStep];
    const fast = {
      name: 'fast',
      provider: 'openai-compatible',
      model: 'llama3.2',
      baseURL: 'http://127.0.0.1:11434/v1',
    };
    expect(draft.profile).toEqual(fast);
    expect(refine.kind).toBe('loop');
    expect(refine.dependsOn).toEqual(['draft']);
    expect(refine.maxIterations).toBe(4);
    expect(refine.until).toEqual({ ref: 'critic.pass', op: 'equals', value: true });
    const [writer, critic] = refine.body as [AgentStep, AgentStep];
    expect(writer.dependsOn).toEqual([]);
    expect(writer.prompt).toContain('{{loop.iteration}}');
    expect(critic.prompt).toBe('## writer\n{{steps.writer}}');
    expect(critic.outputSchema).toEqual({
      type: 'object',
      properties: { pass: { type: 'boolean' }, notes: { type: 'string' } },
      required: ['pass'],
    });
    expect(publish).toEqual({
      kind: 'approval',
      name: 'publish',
      dependsOn: ['refine'],
      present: '## refine\n{{steps.refine}}',
      deadline: '1d',
      onTimeout: 'reject',
    });
  });

  it('a body root step without a prompt reads what its loop depends on', () => {
    const def = loadEnsembleText(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        '  - { name: l, kind: loop, depends_on: [a], max_iterations: 2, until: b, body: [{ name: b, model_profile: offline }] }',
      ),
      'e.yaml',
      NO_CONFIG,
    );
    expect(((def.steps[1] as LoopStep).body[0] as AgentStep).prompt).toBe('## a\n{{steps.a}}');
  });

  it('fan_out: true fans out from the single dependency, with {{item}} as the default prompt', () => {
    const def = loadEnsembleText(
      yaml('name: x', 'agents:', ...agent('a'), ...agent('b', 'depends_on: [a]', 'fan_out: true')),
      'e.yaml',
      NO_CONFIG,
    );
    expect((def.steps[1] as AgentStep).fanOut).toEqual({ from: 'a' });
    expect((def.steps[1] as AgentStep).prompt).toBe('{{item}}');
  });

  it('fan_out.batch gives the batch size and flush interval of a batch fan-out (docs/scale.md)', () => {
    const def = loadEnsembleText(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        ...agent(
          'b',
          'depends_on: [a]',
          'fan_out: { max_concurrency: 100, batch: { size: 50, flush_ms: 250 } }',
        ),
      ),
      'e.yaml',
      NO_CONFIG,
    );
    expect((def.steps[1] as AgentStep).fanOut).toEqual({
      from: 'a',
      maxConcurrency: 100,
      batch: { size: 50, flushMs: 250 },
    });
  });

  it('a bad fan_out.batch is refused, naming the field', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        ...agent('b', 'depends_on: [a]', 'fan_out: { batch: { size: 0, flush_ms: 10, flsh: 1 } }'),
      ),
    );
    expect(error.message).toMatch(/agents\[1\]\.fan_out\.batch/);
    expect(error.message).toMatch(/flsh/);
  });

  it.each(['code-review', 'triage-router', 'refine-loop', 'minimal'])('%s is plain JSON', (name) => {
    const def = load(name);
    expect(JSON.parse(JSON.stringify(def))).toStrictEqual(def);
  });

  it.each([
    ['"a.b == x"', { ref: 'a.b', op: 'equals', value: 'x' }],
    ['"a.b != 3"', { ref: 'a.b', op: 'not_equals', value: 3 }],
    ['"a contains \'two words\'"', { ref: 'a', op: 'contains', value: 'two words' }],
    ['"a.b"', { ref: 'a.b', op: 'truthy' }],
    ['"!a.b"', { ref: 'a.b', op: 'falsy' }],
    ['"steps.a.ok == false"', { ref: 'a.ok', op: 'equals', value: false }],
    ['{ ref: a.b, equals: x }', { ref: 'a.b', op: 'equals', value: 'x' }],
    ['{ ref: a, contains: urgent }', { ref: 'a', op: 'contains', value: 'urgent' }],
    ['{ ref: a, truthy: false }', { ref: 'a', op: 'falsy' }],
    ['{ ref: a, falsy: true }', { ref: 'a', op: 'falsy' }],
  ])('when: %s', (when, condition) => {
    const def = loadEnsembleText(
      yaml('name: x', 'agents:', ...agent('a'), ...agent('b', 'depends_on: [a]', `when: ${when}`)),
      'e.yaml',
      NO_CONFIG,
    );
    expect(def.steps[1]!.when).toEqual(condition);
  });
});

describe('config directories', () => {
  let root: string;
  let dirs: { local: string; global: string };
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-config-'));
    dirs = { local: path.join(root, 'project', '.baton'), global: path.join(root, 'xdg', 'baton') };
    for (const d of Object.values(dirs)) fs.mkdirSync(path.join(d, 'ensembles'), { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('local config.yaml overrides global per profile, and supplies default_profile', () => {
    fs.writeFileSync(
      path.join(dirs.global, 'config.yaml'),
      yaml(
        'default_profile: shared',
        'profiles:',
        '  shared: { provider: openai, model: gpt-4o }',
        '  mine: { provider: openai, model: old }',
      ),
    );
    fs.writeFileSync(
      path.join(dirs.local, 'config.yaml'),
      yaml('profiles:', '  mine: { provider: anthropic, model: claude-sonnet-4-5 }'),
    );
    const config = loadConfig(dirs);
    expect(config.defaultProfile).toBe('shared');
    expect(config.profiles.mine).toEqual({ name: 'mine', provider: 'anthropic', model: 'claude-sonnet-4-5' });
    expect(config.files).toEqual([
      path.join(dirs.global, 'config.yaml'),
      path.join(dirs.local, 'config.yaml'),
    ]);

    const def = loadEnsembleText(
      yaml('name: x', 'agents:', '  - name: a', '  - { name: b, model_profile: mine }'),
      'e.yaml',
      { configDirs: dirs },
    );
    expect((def.steps[0] as AgentStep).profile).toEqual({
      name: 'shared',
      provider: 'openai',
      model: 'gpt-4o',
    });
    expect((def.steps[1] as AgentStep).profile.provider).toBe('anthropic');
  });

  it('refuses a bad config.yaml with file, line and path', () => {
    const file = path.join(dirs.local, 'config.yaml');
    fs.writeFileSync(file, yaml('profiles:', '  fast:', '    provider: openai', '    modle: gpt-4o'));
    const error = (() => {
      try {
        loadConfig(dirs);
      } catch (e) {
        return e as EnsembleError;
      }
      throw new Error('expected refusal');
    })();
    expect(error).toBeInstanceOf(EnsembleError);
    const issue = error.issues.find((i) => i.path === 'profiles.fast.modle')!;
    expect(issue).toMatchObject({ file, line: 4, column: 5 });
    expect(issue.message).toContain("did you mean 'model'?");
    expect(error.issues.find((i) => i.path === 'profiles.fast.model')).toMatchObject({ file, line: 3 });
  });

  it('refuses a config default_profile that no config defines', () => {
    fs.writeFileSync(
      path.join(dirs.global, 'config.yaml'),
      yaml('profiles:', '  fast: { provider: openai, model: m }', 'default_profile: fsat'),
    );
    expect(() => loadConfig(dirs)).toThrow(
      /config\.yaml:3:\d+ {2}default_profile {2}unknown model profile 'fsat'; did you mean 'fast'\?/,
    );
  });

  it('finds ensembles by name, local before global, .yaml or .yml, or by path', () => {
    fs.writeFileSync(path.join(dirs.global, 'ensembles', 'review.yaml'), 'name: global-review\n');
    fs.writeFileSync(path.join(dirs.global, 'ensembles', 'other.yml'), 'name: other\n');
    expect(findEnsemble('review', dirs)).toBe(path.join(dirs.global, 'ensembles', 'review.yaml'));
    fs.writeFileSync(path.join(dirs.local, 'ensembles', 'review.yml'), 'name: local-review\n');
    expect(findEnsemble('review', dirs)).toBe(path.join(dirs.local, 'ensembles', 'review.yml'));
    expect(findEnsemble('other', dirs)).toBe(path.join(dirs.global, 'ensembles', 'other.yml'));
    expect(findEnsemble(path.join(FIXTURES, 'minimal.yaml'), dirs)).toBe(path.join(FIXTURES, 'minimal.yaml'));
    expect(listEnsembles(dirs).map((e) => [e.name, e.scope])).toEqual([
      ['review', 'local'],
      ['other', 'global'],
    ]);
    expect(() => findEnsemble('reviw', dirs)).toThrow(/No ensemble named 'reviw'\. Did you mean 'review'\?/);
    expect(() => findEnsemble('./nope.yaml', dirs)).toThrow(/Ensemble file not found: .*nope\.yaml/);
  });

  it('locates .baton upward from cwd and the global dir from XDG_CONFIG_HOME or HOME', () => {
    const deep = path.join(root, 'project', 'src', 'deep');
    fs.mkdirSync(deep, { recursive: true });
    expect(findConfigDirs({ cwd: deep, env: { XDG_CONFIG_HOME: path.join(root, 'xdg') } })).toEqual(dirs);
    expect(findConfigDirs({ cwd: root, env: { HOME: '/home/someone' } }).global).toBe(
      '/home/someone/.config/baton',
    );
  });

  it('an unreadable file is a plain Error naming the path', () => {
    const missing = path.join(root, 'missing.yaml');
    expect(() => loadEnsembleFile(missing, NO_CONFIG)).toThrow(missing);
    try {
      loadEnsembleFile(missing, NO_CONFIG);
    } catch (e) {
      expect(e).not.toBeInstanceOf(EnsembleError);
    }
  });
});

describe('refusals name file, line and field path', () => {
  it('YAML syntax errors carry their line', () => {
    const error = refusal(yaml('name: x', 'agents:', '  - name: a', '    prompt: "unclosed', 'output: a'));
    expect(error.issues[0]!.line).toBeGreaterThanOrEqual(4);
    expect(error.issues[0]!.path).toBe('');
    expect(error.message).toMatch(/^ {2}e\.yaml:\d+:\d+ {2}.*quote/m);
  });

  it('duplicate keys are syntax errors at the second key', () => {
    const error = refusal(yaml('name: x', 'agents:', ...agent('a'), '    prompt: one', '    prompt: two'));
    expect(error.issues).toEqual([
      expect.objectContaining({ line: 6, path: '', message: expect.stringContaining('unique') }),
    ]);
  });

  it('unknown keys suggest the close one', () => {
    const error = refusal(
      yaml('name: x', 'agents:', '  - name: a', '    modle_profile: offline', '    depend_on: []'),
    );
    expectIssue(error, 'agents[0].modle_profile', 4, "did you mean 'model_profile'?");
    expectIssue(error, 'agents[0].depend_on', 5, "did you mean 'depends_on'?");
  });

  it('a field of another step kind says which kind', () => {
    const error = refusal(yaml('name: x', 'agents:', ...agent('a', 'deadline: 1h')));
    expectIssue(error, 'agents[0].deadline', 5, 'add kind: approval');
  });

  it('missing and mistyped fields', () => {
    const error = refusal(
      yaml(
        'agents:',
        '  - name: a',
        '    model_profile: 5',
        '    timeout: soon',
        '    retry: { max_attempts: 0 }',
      ),
    );
    expectIssue(error, 'name', 1, "missing required field 'name'");
    expectIssue(error, 'agents[0].model_profile', 3, 'expected a string, got 5');
    expectIssue(error, 'agents[0].timeout', 4, 'duration');
    expectIssue(error, 'agents[0].retry.max_attempts', 5, '>= 1');
  });

  it('model_profile and an inline provider are exclusive', () => {
    const error = refusal(yaml('name: x', 'agents:', ...agent('a', 'provider: openai', 'model: gpt-4o')));
    expectIssue(error, 'agents[0].provider', 5, 'either model_profile or provider + model');
  });

  it('unknown kinds and nested loops', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        '  - { name: a, kind: aproval }',
        '  - name: l',
        '    kind: loop',
        '    max_iterations: 2',
        '    until: b',
        '    body:',
        '      - { name: b, kind: loop }',
      ),
    );
    expectIssue(error, 'agents[0].kind', 3, "did you mean 'approval'?");
    expectIssue(error, 'agents[1].body[0].kind', 9, 'a loop cannot sit inside a loop body');
  });

  it('duplicate step names', () => {
    const error = refusal(yaml('name: x', 'agents:', ...agent('a'), ...agent('a')));
    expectIssue(error, 'agents[1].name', 5, "duplicate step name 'a'; first declared at agents[0]");
  });

  it('depends_on naming a missing step suggests close names', () => {
    const error = refusal(
      yaml('name: x', 'agents:', ...agent('synthesize'), ...agent('b', 'depends_on: [synthesise]')),
    );
    expectIssue(error, 'agents[1].depends_on[0]', 7, "unknown step 'synthesise'; did you mean 'synthesize'?");
  });

  it('cycles are named', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a', 'depends_on: [c]'),
        ...agent('b', 'depends_on: [a]'),
        ...agent('c', 'depends_on: [b]'),
      ),
    );
    expect(error.issues.filter((i) => i.message.includes('cycle'))).toHaveLength(1);
    expectIssue(error, 'agents[1].depends_on[0]', 8, 'dependency cycle: a -> c -> b -> a');
  });

  it('a step depending on itself is a cycle', () => {
    expectIssue(
      refusal(yaml('name: x', 'agents:', ...agent('a', 'depends_on: [a]'))),
      'agents[0].depends_on[0]',
      5,
      'cycle: a -> a',
    );
  });

  it('unknown profiles, with the UnknownProfileError message', () => {
    const error = refusal(
      yaml(
        'name: x',
        'default_profile: nope',
        'profiles:',
        '  fast: { provider: openai, model: m }',
        'agents:',
        ...agent('a'),
        '    model_profile: fsat',
      ),
    );
    // The second model_profile line is a duplicate key, so use a clean file for the agent check.
    expect(error.issues[0]!.message).toContain('unique');
    const clean = refusal(
      yaml(
        'name: x',
        'default_profile: nope',
        'profiles:',
        '  fast: { provider: openai, model: m }',
        'agents:',
        '  - { name: a, model_profile: fsat }',
      ),
    );
    expectIssue(clean, 'default_profile', 2, "unknown model profile 'nope'. Known profiles: claude-haiku");
    expectIssue(clean, 'agents[0].model_profile', 6, "unknown model profile 'fsat'");
    expectIssue(clean, 'agents[0].model_profile', 6, "Did you mean 'fast'?");
  });

  it('an agent with no model anywhere', () => {
    expectIssue(refusal(yaml('name: x', 'agents:', '  - name: a')), 'agents[0].name', 3, 'has no model');
  });

  it('unknown tools, when a registry is given', () => {
    const text = yaml(
      'name: x',
      'agents:',
      ...agent('a', 'tools: [search, { name: deplyo, requires_approval: true }]'),
    );
    expect(() => loadEnsembleText(text, 'e.yaml', NO_CONFIG)).not.toThrow();
    expectIssue(
      refusal(text, { knownTools: ['search', 'deploy'] }),
      'agents[0].tools[1]',
      5,
      "unknown tool 'deplyo'; did you mean 'deploy'?",
    );
  });

  it('tools declare themselves not idempotent; a non-boolean is refused where it stands', () => {
    const text = yaml(
      'name: x',
      'agents:',
      ...agent('a', 'tools: [search, { name: pay, idempotent: false }]'),
    );
    const def = loadEnsembleText(text, 'e.yaml', NO_CONFIG);
    expect((def.steps[0] as AgentStep).tools).toEqual([
      { name: 'search' },
      { name: 'pay', idempotent: false },
    ]);
    expectIssue(
      refusal(yaml('name: x', 'agents:', ...agent('a', "tools: [{ name: pay, idempotent: 'no' }]"))),
      'agents[0].tools[0].idempotent',
      5,
      "expected true or false, got 'no'",
    );
  });

  it('fan_out without exactly one depends_on', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        ...agent('b'),
        ...agent('c', 'depends_on: [a, b]', 'fan_out: true'),
        ...agent('d', 'fan_out: {}'),
      ),
    );
    expectIssue(error, 'agents[2].fan_out', 10, 'exactly one depends_on entry (found 2)');
    expectIssue(error, 'agents[3].fan_out', 13, 'found 0');
  });

  it('templates naming unknown steps or steps that are not upstream', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        ...agent('b', 'prompt: "{{steps.a}} {{stpes.a}}"'),
        ...agent('c', 'depends_on: [b]', 'prompt: "{{a.field}} {{c}}"'),
      ),
    );
    expectIssue(error, 'agents[1].prompt', 7, "{{steps.a}}: step 'a' does not run before 'b'");
    expectIssue(error, 'agents[1].prompt', 7, "unknown step 'stpes'");
    // 'a' is not upstream of c either (c -> b only); a step cannot read itself.
    expectIssue(error, 'agents[2].prompt', 11, "{{steps.a.field}}: step 'a' does not run before 'c'");
    expectIssue(error, 'agents[2].prompt', 11, 'cannot read its own output');
  });

  it('system prompts are templates too', () => {
    expectIssue(
      refusal(yaml('name: x', 'agents:', ...agent('a', 'system_prompt: "You are {{who}}"'))),
      'agents[0].system_prompt',
      5,
      "unknown step 'who'",
    );
  });

  it("a body step's output stays inside its loop", () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        '  - { name: l, kind: loop, max_iterations: 2, until: b, body: [{ name: b, model_profile: offline }] }',
        ...agent('c', 'depends_on: [l]', 'prompt: "{{b}} {{l}}"'),
      ),
    );
    expect(error.issues).toHaveLength(1);
    expectIssue(
      error,
      'agents[1].prompt',
      7,
      "step 'b' is inside loop 'l', and its output stays there; read 'l'",
    );
  });

  it('template syntax errors in prompt and present', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a', 'prompt: "{{ a b }}"'),
        '  - { name: ok, kind: approval, depends_on: [a], deadline: 1h, present: "{{a" }',
      ),
    );
    expectIssue(error, 'agents[0].prompt', 5, "invalid placeholder '{{ a b }}'");
    expectIssue(error, 'agents[1].present', 6, 'unclosed placeholder');
  });

  it('{{item}} outside fan_out', () => {
    expectIssue(
      refusal(yaml('name: x', 'agents:', ...agent('a', 'prompt: "{{item}}"'))),
      'agents[0].prompt',
      5,
      '{{item}} is only defined in a fan_out step',
    );
  });

  it('{{loop.*}} outside a loop', () => {
    expectIssue(
      refusal(yaml('name: x', 'agents:', ...agent('a', 'prompt: "try {{loop.iteration}}"'))),
      'agents[0].prompt',
      5,
      '{{loop.iteration}} is only defined inside a loop body',
    );
  });

  it('until must read a body step', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        '  - name: l',
        '    kind: loop',
        '    depends_on: [a]',
        '    max_iterations: 3',
        '    until: "a.done"',
        '    body:',
        '      - { name: b, model_profile: offline }',
      ),
    );
    expectIssue(error, 'agents[1].until', 9, "until 'a.done' must read a step of this loop's body (b)");
  });

  it('body steps may read outer steps only when those run before the loop', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('a'),
        '  - name: l',
        '    kind: loop',
        '    max_iterations: 3',
        '    until: b',
        '    body:',
        '      - { name: b, model_profile: offline, depends_on: [a] }',
        ...agent('c', 'depends_on: [b]'),
      ),
    );
    expectIssue(
      error,
      'agents[1].body[0].depends_on[0]',
      10,
      "'a' does not run before loop 'l'; add it to the loop's depends_on",
    );
    expectIssue(error, 'agents[2].depends_on[0]', 13, "'b' is inside loop 'l'; depend on 'l' instead");
  });

  it('output naming a missing step', () => {
    expectIssue(
      refusal(yaml('name: x', 'output: summarize', 'agents:', ...agent('summarise'))),
      'output',
      2,
      "unknown step 'summarize'; did you mean 'summarise'?",
    );
  });

  it('approval on_timeout escalate needs escalation_deadline, and only then', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        '  - { name: a, kind: approval, deadline: 1h, on_timeout: escalate }',
        '  - { name: b, kind: approval, deadline: 1h, escalation_deadline: 1h }',
      ),
    );
    expectIssue(error, 'agents[0].on_timeout', 3, 'on_timeout: escalate needs escalation_deadline');
    expectIssue(error, 'agents[1].escalation_deadline', 4, 'only applies with on_timeout: escalate');
  });

  it('when naming a step that is not upstream', () => {
    const error = refusal(
      yaml(
        'name: x',
        'agents:',
        ...agent('triage'),
        ...agent('b', 'when: "triage.category == billing"'),
        ...agent('c', 'when: { ref: nope, truthy: true }'),
      ),
    );
    expectIssue(error, 'agents[1].when', 7, "step 'triage' does not run before 'b'");
    expectIssue(error, 'agents[2].when', 10, "unknown step 'nope'");
  });

  it('bad condition strings', () => {
    const error = refusal(
      yaml('name: x', 'agents:', ...agent('a'), ...agent('b', 'depends_on: [a]', 'when: "a.x =="')),
    );
    expectIssue(error, 'agents[1].when', 8, 'has no value');
  });

  it('reserved step names', () => {
    expectIssue(refusal(yaml('name: x', 'agents:', ...agent('input'))), 'agents[0].name', 3, 'reserved');
  });

  it('agents and steps are exclusive, and one is required', () => {
    expectIssue(refusal(yaml('name: x')), 'agents', 1, "missing required field 'agents'");
    expectIssue(refusal(yaml('name: x', 'agents: []', 'steps: []')), 'steps', 3, 'not both');
  });

  it('reports every check problem at once, sorted by line, with a hint', () => {
    const error = refusal(
      yaml(
        'name: x',
        'output: nope',
        'agents:',
        ...agent('a', 'depends_on: [missing]'),
        ...agent('a', 'prompt: "{{item}}"'),
      ),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      'output',
      'agents[0].depends_on[0]',
      'agents[1].name',
      'agents[1].prompt',
    ]);
    expect(error.message.split('\n')[0]).toBe('Invalid e.yaml (4 problems):');
    expect(error.message.split('\n').pop()).toMatch(/Fix the fields named above/);
  });

  it('an empty file and a non-mapping', () => {
    expect(refusal('').issues).toEqual([
      expect.objectContaining({ line: 1, path: '', message: expect.stringContaining('empty') }),
    ]);
    expect(refusal('- a\n- b\n').issues[0]!.message).toContain('not a list');
  });
});
