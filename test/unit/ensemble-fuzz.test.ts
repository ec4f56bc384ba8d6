/**
 * Deterministic fuzzing of the ensemble loader: every case is a valid fixture broken in a way that
 * must be refused. Whatever goes in, what comes out is an EnsembleError whose issues each name a
 * field path (or, for YAML syntax, a line), never another exception and never a crash.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { EnsembleError, loadEnsembleText, type LoadOptions } from '../../src/config';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'ensembles');
const OPTS: LoadOptions = {
  config: { profiles: {}, files: [] },
  knownTools: ['lookup_invoice', 'refund', 'search'],
};
const CASES = 1500;

/** mulberry32: tiny, seedable, good enough to pick mutations reproducibly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

type Obj = Record<string, unknown>;
type Step = Obj & { name: string; kind?: string; depends_on?: string[]; body?: Step[] };

const fixtures = fs
  .readdirSync(FIXTURES)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => ({ file: f, text: fs.readFileSync(path.join(FIXTURES, f), 'utf8') }));

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const topSteps = (doc: Obj) => (doc.agents ?? doc.steps) as Step[];
const allSteps = (doc: Obj): Step[] => topSteps(doc).flatMap((s) => [s, ...(s.body ?? [])]);
const agents = (doc: Obj) => allSteps(doc).filter((s) => (s.kind ?? 'agent') === 'agent');
const dump = (doc: unknown) => stringify(doc, { aliasDuplicateObjects: false });

/** Keys valid anywhere; an invented key must be none of them to be surely unknown. */
const KNOWN_KEYS = new Set(
  (
    'name description default_profile budget output profiles agents steps kind model_profile provider model base_url api_key_env ' +
    'pricing temperature max_tokens system_prompt prompt depends_on when fan_out timeout retry tools max_iterations output_schema ' +
    'present deadline on_timeout escalation_deadline until body max_attempts initial_interval backoff max_interval requires_approval idempotent ' +
    'max_concurrency ref equals not_equals contains truthy falsy max_cost_usd input_per_mtok output_per_mtok cached_input_per_mtok'
  ).split(' '),
);

function typo(rng: Rng, key: string): string {
  for (let attempt = 0; attempt < 10; attempt++) {
    const i = rng.int(key.length);
    const chars = key.split('');
    const op = rng.int(3);
    if (op === 0) chars.splice(i, 1);
    else if (op === 1) chars.splice(i, 0, rng.pick('abcdefxyz_'.split('')));
    else if (i + 1 < chars.length) [chars[i], chars[i + 1]] = [chars[i + 1]!, chars[i]!];
    const out = chars.join('');
    if (out && !KNOWN_KEYS.has(out)) return out;
  }
  return `x_${key}`;
}

const WRONG_VALUES: unknown[] = [
  42,
  -1,
  0,
  1.5,
  true,
  false,
  null,
  [],
  [1, 2],
  {},
  { a: 1 },
  '',
  'nonsense value',
];
const BAD_DURATIONS: unknown[] = [
  'soon',
  '5 sec',
  '-1s',
  '1..5s',
  '',
  '10 parsecs',
  0,
  -100,
  1.5,
  true,
  [],
  '1h30m',
];
const HUGE: unknown[] = [1e12, 1e300, Infinity, -Infinity, Number.MAX_SAFE_INTEGER * 4, -1e20];
const BAD_TEMPLATES = [
  '{{ghost}}',
  '{{steps.nope.x}}',
  '{{ bad ref }}',
  '{{unclosed',
  '{{}}',
  '{{loop.nope}}',
  '{{steps}}',
  '{{{input}}}',
  '{{loop.iteration}}',
];

/** A mutation returns YAML text that is certainly invalid. */
type Mutation = (doc: Obj, rng: Rng) => string;

const typedFields: Array<[string, (rng: Rng) => unknown]> = [
  ['name', (r) => r.pick([42, [], {}, true, null, 'has space', 'a.b', ''])],
  ['depends_on', (r) => r.pick(['a', 5, { x: 1 }, [1], [null], true])],
  ['prompt', (r) => r.pick([5, {}, [], true])],
  ['timeout', (r) => r.pick(BAD_DURATIONS)],
  [
    'retry',
    (r) =>
      r.pick([
        'x',
        5,
        [],
        { max_attempts: 0 },
        { backoff: 0.5 },
        { max_attempts: 'many' },
        { initial_interval: 'later' },
      ]),
  ],
  ['max_iterations', (r) => r.pick(['many', 0, -1, 1.5, 1e9, null])],
  [
    'tools',
    (r) =>
      r.pick([
        'search',
        [5],
        [{}],
        [{ name: 'has space' }],
        [{ name: 'search', requires_approval: 'yes' }],
        [{ name: 'search', idempotent: 'no' }],
        {},
      ]),
  ],
  ['fan_out', (r) => r.pick(['yes', 5, [], { max_concurrency: 0 }, { max_concurrency: 'all' }, null])],
  [
    'when',
    (r) =>
      r.pick([
        5,
        [],
        { ref: 1 },
        { ref: 'a' },
        { ref: 'a', equals: 1, contains: 'x' },
        'a ==',
        'not a condition at all',
        '== x',
        null,
      ]),
  ],
  ['output_schema', (r) => r.pick(['x', [], 5, { type: 5 }, null])],
  ['model_profile', (r) => r.pick([5, [], 'has space', null, true])],
  ['temperature', (r) => r.pick([-1, 3, 'hot', null])],
  ['kind', (r) => r.pick(['bogus', 5, 'Agent', 'loops', null, []])],
  ['description', (r) => r.pick([5, [], {}, true])],
  ['system_prompt', (r) => r.pick([5, [], {}])],
];

const mutations: Record<string, Mutation> = {
  deleteTopName: (doc) => {
    delete doc.name;
    return dump(doc);
  },
  deleteStepList: (doc) => {
    delete doc.agents;
    delete doc.steps;
    return dump(doc);
  },
  emptyStepList: (doc) => {
    doc[doc.agents ? 'agents' : 'steps'] = [];
    return dump(doc);
  },
  bothStepLists: (doc) => {
    doc.agents = doc.steps = topSteps(doc);
    return dump(doc);
  },
  deleteStepName: (doc, rng) => {
    delete (rng.pick(allSteps(doc)) as Obj).name;
    return dump(doc);
  },
  deleteRequiredOfKind: (doc, rng) => {
    const step = rng.pick(allSteps(doc));
    if (step.kind === 'approval') delete step.deadline;
    else if (step.kind === 'loop') delete step[rng.pick(['until', 'max_iterations', 'body'])];
    else step.kind = 'approval'; // an agent posing as an approval has no deadline
    return dump(doc);
  },
  wrongTopType: (doc, rng) => {
    const key = rng.pick([
      'name',
      'description',
      'default_profile',
      'budget',
      'output',
      'profiles',
      doc.agents ? 'agents' : 'steps',
    ]);
    doc[key] = rng.pick(
      WRONG_VALUES.filter(
        (v) => !(key === 'description' && v === 'nonsense value') && !(key === 'output' && v === ''),
      ),
    );
    // `{}` is a valid (empty) budget or profiles map, and a string is a valid name/description: force a type error.
    if (
      ['budget', 'profiles'].includes(key) &&
      typeof doc[key] === 'object' &&
      doc[key] !== null &&
      !Array.isArray(doc[key])
    )
      doc[key] = 'oops';
    if (['name', 'description', 'default_profile', 'output'].includes(key) && typeof doc[key] === 'string')
      doc[key] = 7;
    return dump(doc);
  },
  wrongStepType: (doc, rng) => {
    const [field, value] = rng.pick(typedFields);
    const step = rng.pick(
      field === 'max_iterations' ||
        field === 'tools' ||
        field === 'output_schema' ||
        field === 'temperature' ||
        field === 'model_profile' ||
        field === 'system_prompt'
        ? agents(doc)
        : allSteps(doc),
    );
    step[field] = value(rng);
    // A wrong type on a step kind that lacks the field is an unknown field: invalid either way.
    return dump(doc);
  },
  unknownKey: (doc, rng) => {
    const target = rng.pick<Obj>([doc, ...allSteps(doc)]);
    const key = typo(rng, rng.pick(Object.keys(target)));
    target[key] = rng.pick(WRONG_VALUES);
    return dump(doc);
  },
  unknownNestedKey: (doc, rng) => {
    const step = rng.pick(agents(doc));
    const where = rng.pick(['retry', 'fan_out', 'budget', 'when']);
    if (where === 'budget') doc.budget = { max_cost_usd: 1, [typo(rng, 'max_tokens')]: 5 };
    else if (where === 'retry') step.retry = { max_attempts: 2, [typo(rng, 'initial_interval')]: '1s' };
    else if (where === 'when') step.when = { ref: 'x', equals: 1, [typo(rng, 'not_equals')]: 2 };
    else step.fan_out = { [typo(rng, 'max_concurrency')]: 2 };
    return dump(doc);
  },
  badDuration: (doc, rng) => {
    const steps = allSteps(doc);
    const approval = steps.find((s) => s.kind === 'approval');
    if (approval && rng.next() < 0.5)
      approval[rng.pick(['deadline', 'escalation_deadline'])] = rng.pick(BAD_DURATIONS);
    else {
      const step = rng.pick(agents(doc));
      if (rng.next() < 0.5) step.timeout = rng.pick(BAD_DURATIONS);
      else step.retry = { [rng.pick(['initial_interval', 'max_interval'])]: rng.pick(BAD_DURATIONS) };
    }
    return dump(doc);
  },
  danglingDep: (doc, rng) => {
    const step = rng.pick(allSteps(doc));
    step.depends_on = [...(step.depends_on ?? []), `ghost-${rng.int(1000)}`];
    return dump(doc);
  },
  cycle: (doc, rng) => {
    const steps = topSteps(doc);
    const a = rng.pick(steps);
    const b = rng.pick(steps);
    a.depends_on = [...(a.depends_on ?? []), b.name];
    b.depends_on = [...(b.depends_on ?? []), a.name];
    return dump(doc);
  },
  duplicateName: (doc, rng) => {
    const steps = allSteps(doc);
    if (steps.length < 2) steps.push({ ...clone(steps[0]!) });
    const i = rng.int(steps.length);
    let j = rng.int(steps.length - 1);
    if (j >= i) j++;
    if (steps.length === allSteps(doc).length) steps[j]!.name = steps[i]!.name;
    else topSteps(doc).push(steps[steps.length - 1]!);
    return dump(doc);
  },
  reservedName: (doc, rng) => {
    rng.pick(allSteps(doc)).name = rng.pick(['input', 'item', 'loop', 'steps']);
    return dump(doc);
  },
  badTemplate: (doc, rng) => {
    const step = rng.pick(agents(doc));
    delete step.fan_out; // so {{item}} below is out of place too
    const prompt = `before ${rng.pick([...BAD_TEMPLATES, '{{item}}', `{{${step.name}}}`])} after`;
    // {{loop.iteration}} is fine inside a body: give body steps a template that is bad anywhere.
    step.prompt =
      prompt.includes('loop.iteration') && topSteps(doc).indexOf(step) < 0 ? '{{steps.nope}}' : prompt;
    return dump(doc);
  },
  badPresent: (doc, rng) => {
    const steps = topSteps(doc);
    steps.push({
      name: 'gate-x',
      kind: 'approval',
      deadline: '1h',
      present: rng.pick(BAD_TEMPLATES.filter((t) => t !== '{{loop.iteration}}')),
    });
    return dump(doc);
  },
  unknownProfile: (doc, rng) => {
    rng.pick(agents(doc)).model_profile = `no-such-profile-${rng.int(100)}`;
    // Drop inline models so the only problem is the profile name.
    for (const a of agents(doc))
      if (a.model_profile)
        for (const k of ['provider', 'model', 'base_url', 'api_key_env', 'pricing']) delete a[k];
    return dump(doc);
  },
  unknownTool: (doc, rng) => {
    rng.pick(agents(doc)).tools = [rng.pick(['serach', 'deploy', 'refnud', 'x'])];
    return dump(doc);
  },
  profileConflict: (doc, rng) => {
    const a = rng.pick(agents(doc));
    a.model_profile = 'offline';
    a.provider = 'openai';
    a.model = 'gpt-4o';
    return dump(doc);
  },
  fanOutDeps: (doc, rng) => {
    const a = rng.pick(agents(doc));
    a.fan_out = rng.pick([true, { max_concurrency: 2 }]);
    const others = topSteps(doc)
      .filter((s) => s !== a)
      .map((s) => s.name);
    a.depends_on = others.length >= 2 && rng.next() < 0.5 ? others.slice(0, 2) : [];
    return dump(doc);
  },
  untilOutsideBody: (doc, rng) => {
    topSteps(doc).push({
      name: 'loop-x',
      kind: 'loop',
      max_iterations: 2,
      until: rng.pick([`${topSteps(doc)[0]!.name}.ok`, 'ghost', { ref: 'ghost.x', truthy: true }]),
      body: [{ name: 'inner-x', model_profile: 'offline' }],
    });
    return dump(doc);
  },
  nestedLoop: (doc) => {
    topSteps(doc).push({
      name: 'outer-x',
      kind: 'loop',
      max_iterations: 2,
      until: 'inner-x',
      body: [
        {
          name: 'inner-x',
          kind: 'loop',
          max_iterations: 2,
          until: 'y',
          body: [{ name: 'y', model_profile: 'offline' }],
        },
      ],
    });
    return dump(doc);
  },
  outputMissing: (doc, rng) => {
    doc.output = rng.pick(['ghost', `${topSteps(doc)[0]!.name}x`]);
    return dump(doc);
  },
  escalateWithoutDeadline: (doc) => {
    topSteps(doc).push({ name: 'gate-y', kind: 'approval', deadline: '1h', on_timeout: 'escalate' });
    return dump(doc);
  },
  whenNotUpstream: (doc, rng) => {
    const steps = topSteps(doc);
    const first = steps[0]!;
    const other = steps.length > 1 ? steps[1 + rng.int(steps.length - 1)]! : first;
    first.when = rng.pick([`${other.name}.x == 1`, { ref: other.name, truthy: true }, 'ghost.flag']);
    return dump(doc);
  },
  hugeNumber: (doc, rng) => {
    const a = rng.pick(agents(doc));
    const spot = rng.pick(['max_iterations', 'budget', 'timeout', 'temperature', 'fan_out', 'retry']);
    const n = rng.pick(HUGE);
    if (spot === 'budget') doc.budget = { max_tokens: n === Infinity || n === -Infinity ? n : 1e300 };
    else if (spot === 'fan_out') a.fan_out = { max_concurrency: n };
    else if (spot === 'retry') a.retry = { max_attempts: n };
    else if (spot === 'timeout') a.timeout = rng.pick([1e300, Infinity, -5, 1.5]);
    else a[spot] = n;
    return dump(doc);
  },
  deepNesting: (doc, rng) => {
    // Mostly past the 64 levels output_schema allows; now and then past what the parser can take.
    const depth = rng.next() < 0.15 ? 1500 + rng.int(500) : 70 + rng.int(300);
    const a = rng.pick(agents(doc));
    const field = rng.pick(['output_schema', 'prompt', 'retry', 'when', 'tools', 'description']);
    a[field] = '__DEEP__';
    const deep =
      rng.next() < 0.5
        ? '['.repeat(depth) + ']'.repeat(depth)
        : '{a: '.repeat(depth) + '1' + '}'.repeat(depth);
    const nested = field === 'output_schema' ? `{type: object, properties: ${deep}}` : deep;
    return dump(doc).replace('__DEEP__', nested);
  },
  rootNotMapping: (doc, rng) =>
    rng.pick([dump(topSteps(doc)), '42\n', '"just a string"\n', '~\n', '[]\n', '- - -\n', 'null\n']),
  truncated: (doc, rng) => {
    // With `name` written last, any cut before it loses the name (or breaks the syntax).
    const { name, ...rest } = doc;
    const text = dump({ ...rest, name });
    const end = text.lastIndexOf('\nname:');
    return text.slice(0, rng.int(end + 1));
  },
  syntaxBreak: (doc, rng) =>
    dump(doc) +
    rng.pick([
      '"unterminated\n',
      'name: again\n',
      'extra: *nope\n',
      '---\nname: second\n',
      '? [a, b]\n: 1\n',
      'budget: [1, 2\n',
      'key: value: other\n',
      'x: !!binary aGVsbG8=\n',
      'y: !custom tag\n',
      '  - stray: item\n',
      'z: &a [*a]\n',
    ]),
  garbage: (_doc, rng) => {
    // No 'g' or 'p' in the alphabet, so neither 'agents' nor 'steps' (required) can ever appear.
    const alphabet = '{}[]:,-?|>\'"&*!%@`#\\ \t\n\n\n  abcdefhijklmnoqrstuvwxyz0123456789.=~'.split('');
    let s = '';
    for (let i = 0, n = 1 + rng.int(200); i < n; i++) s += rng.pick(alphabet);
    return s;
  },
  binaryNoise: (_doc, rng) => {
    let s = '';
    for (let i = 0, n = 1 + rng.int(100); i < n; i++) s += String.fromCharCode(rng.int(0x2fff));
    return s.replace(/[gp]/g, 'x');
  },
};

const names = Object.keys(mutations).sort();

function generate(seed: number): { label: string; text: string } {
  const rng = prng(seed);
  const fixture = fixtures[seed % fixtures.length]!;
  const doc = parse(fixture.text) as Obj;
  const name = names[rng.int(names.length)]!;
  let text = mutations[name]!(doc, rng);
  let label = `${fixture.file} ${name}`;
  // Sometimes add an unknown top-level key too: a strict mapping never turns that into a valid file.
  if (
    rng.next() < 0.2 &&
    !['garbage', 'binaryNoise', 'truncated', 'rootNotMapping', 'syntaxBreak', 'deepNesting'].includes(name)
  ) {
    text += `${typo(rng, 'description')}: extra\n`;
    label += ' +unknownKey';
  }
  return { label, text };
}

describe('ensemble fuzzing', () => {
  it('fixtures are valid to begin with', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(3);
    for (const f of fixtures) expect(() => loadEnsembleText(f.text, f.file, OPTS)).not.toThrow();
  });

  it(`refuses ${CASES} malformed ensembles with an EnsembleError that names every issue`, () => {
    const failures: string[] = [];
    const seen = new Map<string, number>();
    for (let seed = 1; seed <= CASES; seed++) {
      const { label, text } = generate(seed);
      const file = `fuzz-${seed}.yaml`;
      const kind = label.split(' ')[1]!;
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      let thrown: unknown;
      try {
        loadEnsembleText(text, file, OPTS);
      } catch (e) {
        thrown = e;
      }
      const problem = checkRefusal(thrown, file);
      if (problem) failures.push(`seed ${seed} (${label}): ${problem}\n--- text ---\n${text.slice(0, 600)}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
    // Every mutation ran many times.
    for (const name of names) expect(seen.get(name) ?? 0).toBeGreaterThanOrEqual(10);
  });
});

/** What is wrong with how a malformed file was refused, or undefined when it was refused well. */
function checkRefusal(thrown: unknown, file: string): string | undefined {
  if (thrown === undefined) return 'was accepted';
  if (!(thrown instanceof EnsembleError))
    return `threw ${(thrown as Error)?.constructor?.name}: ${String((thrown as Error)?.message ?? thrown)}`;
  if (thrown.issues.length === 0) return 'EnsembleError without issues';
  for (const issue of thrown.issues) {
    if (issue.file !== file) return `issue names file ${issue.file}`;
    if (!issue.message) return 'issue without a message';
    if (/internal error/.test(issue.message)) return `internal error: ${issue.message}`;
    if (issue.path === '' && issue.line === undefined)
      return `issue with neither path nor line: ${issue.message}`;
    if (issue.path && !thrown.message.includes(`  ${issue.path}  `))
      return `message does not name path ${issue.path}`;
    if (issue.line !== undefined && !thrown.message.includes(`${file}:${issue.line}:`))
      return `message does not name line ${issue.line}`;
  }
  return undefined;
}
