import { createOfflineProvider, offlinePlan } from '../../src/activities/providers/offline';
import { parseJsonReply, parseStructured, responseFormatOf } from '../../src/workflows/patterns/context';
import { parseVerdict, passes, verdictSchema } from '../../src/workflows/patterns/evaluator-optimizer';
import { runDag } from '../../src/workflows/patterns/parallel';
import {
  evidenceRefs,
  parsePlan,
  parsePlanText,
  planSchema,
  planText,
  substituteEvidence,
  toolArguments,
  validatePlan,
} from '../../src/workflows/patterns/plan-execute';
import { matchRoute, routeSchema } from '../../src/workflows/patterns/router';
import { decisionSchema, historyText } from '../../src/workflows/patterns/supervisor';

const tick = () => new Promise((r) => setImmediate(r));

describe('reading JSON replies', () => {
  test('plain, fenced, or wrapped in prose', () => {
    expect(parseJsonReply('{"a":1}')).toEqual({ a: 1 });
    expect(parseJsonReply('Here:\n```json\n{"a": 2}\n```')).toEqual({ a: 2 });
    expect(parseJsonReply('Sure! {"a": 3} Hope it helps.')).toEqual({ a: 3 });
    expect(parseJsonReply('no json here')).toBeUndefined();
  });

  test('schema errors name the field', () => {
    const r = parseStructured('{"pass": "yes", "score": 3, "feedback": ""}', verdictSchema);
    expect(r).toEqual({
      ok: false,
      error: expect.stringContaining('pass:'),
      issues: [{ path: 'pass', message: 'Invalid input: expected boolean, received string' }],
    });
  });

  test('structured output schemas come from zod, without $schema', () => {
    const f = responseFormatOf('verdict', verdictSchema);
    expect(f.name).toBe('verdict');
    expect(f.schema).not.toHaveProperty('$schema');
    expect(f.schema).toMatchObject({ type: 'object', required: ['pass', 'score', 'feedback'] });
  });
});

describe('verdicts', () => {
  test('a valid verdict is read as it is', () => {
    expect(parseVerdict('{"pass": false, "score": 6.5, "feedback": "shorter"}')).toEqual({
      verdict: { pass: false, score: 6.5, feedback: 'shorter' },
      valid: true,
    });
  });

  test('an invalid reply is a failing verdict that says why, scoring below any real score', () => {
    const { verdict, valid } = parseVerdict('looks good to me');
    expect(valid).toBe(false);
    expect(verdict.pass).toBe(false);
    expect(verdict.score).toBe(-1);
    expect(verdict.feedback).toMatch(/no valid verdict/);
  });

  test('a verdict passes on pass, or on a score at the threshold', () => {
    expect(passes({ pass: true, score: 0, feedback: '' })).toBe(true);
    expect(passes({ pass: false, score: 8, feedback: '' }, 8)).toBe(true);
    expect(passes({ pass: false, score: 7.9, feedback: '' }, 8)).toBe(false);
    expect(passes({ pass: false, score: 10, feedback: '' })).toBe(false);
  });
});

describe('ReWOO plans', () => {
  const workers = ['search', 'calculator', 'LLM'];

  test('#E references: found in order, substituted, unknown ones kept', () => {
    expect(evidenceRefs('sum #E2 and #E1, then #E2 again; #E10')).toEqual(['E2', 'E1', 'E10']);
    expect(substituteEvidence('#E1 + #E10 + #E3', { E1: '68.4', E10: '84.5' })).toBe('68.4 + 84.5 + #E3');
    expect(substituteEvidence('#E1', new Map([['E1', 'x']]))).toBe('x');
  });

  test('a structured plan is checked and its dependencies come from its #E references', () => {
    const plan = JSON.stringify({
      steps: [
        { id: 'E1', description: 'France', tool: 'search', input: 'population of France' },
        { id: '#e2', description: 'Germany', tool: 'Search', input: 'population of Germany' },
        { id: 'E3', description: 'add', tool: 'calculator', input: '#E1 + #E2' },
      ],
    });
    const r = parsePlan(plan, workers);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.map((s) => [s.id, s.tool, s.dependsOn])).toEqual([
      ['E1', 'search', []],
      ['E2', 'search', []],
      ['E3', 'calculator', ['E1', 'E2']],
    ]);
  });

  test.each([
    [
      [
        { id: 'E1', tool: 'search', input: '#E2' },
        { id: 'E2', tool: 'search', input: 'x' },
      ],
      /E1 cites #E2, which is not an earlier/,
    ],
    [[{ id: 'E1', tool: 'search', input: '#E1' }], /E1 cites #E1/],
    [
      [{ id: 'E1', tool: 'browse', input: 'x' }],
      /uses 'browse', which is not a worker \(workers: search, calculator, LLM\)/,
    ],
    [[{ id: 'step1', tool: 'search', input: 'x' }], /has id 'step1'/],
    [
      [
        { id: 'E1', tool: 'search', input: 'x' },
        { id: 'E1', tool: 'search', input: 'y' },
      ],
      /two steps have id E1/,
    ],
    [[], /no steps/],
  ])('an invalid plan is refused with a reason (%#)', (steps, why) => {
    const r = validatePlan(steps, workers);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(why);
  });

  test('too many steps are refused', () => {
    const steps = [1, 2, 3].map((n) => ({ id: `E${n}`, tool: 'LLM', input: 'x' }));
    expect(validatePlan(steps, workers, 2)).toEqual({
      ok: false,
      error: 'the plan has 3 steps; at most 2 are allowed',
    });
  });

  test('the classic text format is read too', () => {
    const text = [
      'Plan: Find the population of France.',
      '#E1 = search[population of France]',
      'Plan: Add them. #E2 = calculator[#E1 + 84.5]',
    ].join('\n');
    expect(parsePlanText(text)).toEqual([
      {
        id: 'E1',
        description: 'Find the population of France.',
        tool: 'search',
        input: 'population of France',
      },
      { id: 'E2', description: 'Add them.', tool: 'calculator', input: '#E1 + 84.5' },
    ]);
    const r = parsePlan(text, workers);
    expect(r.ok && r.value[1]!.dependsOn).toEqual(['E1']);
    expect(parsePlan('I would search the web', workers)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/no plan/),
    });
  });

  test('a text input goes into the tool’s one required argument; JSON input is used as is, evidence put in', () => {
    const spec = {
      name: 'calc',
      description: '',
      parameters: {
        type: 'object',
        properties: { expression: { type: 'string' }, precision: { type: 'number' } },
        required: ['expression'],
      },
    };
    const evidence = new Map([['E1', '68.4']]);
    expect(toolArguments(spec, '#E1 + 1', evidence)).toEqual({ expression: '68.4 + 1' });
    expect(toolArguments(spec, '{"expression": "#E1 * 2", "precision": 2}', evidence)).toEqual({
      expression: '68.4 * 2',
      precision: 2,
    });
    expect(toolArguments(undefined, 'x', evidence)).toEqual({ input: 'x' });
  });

  test('the solver reads each step with its evidence', () => {
    const r = parsePlan(
      JSON.stringify({ steps: [{ id: 'E1', description: 'look', tool: 'search', input: 'q' }] }),
      workers,
    );
    if (!r.ok) throw new Error(r.error);
    expect(planText(r.value, new Map([['E1', 'found']]))).toBe(
      'Plan: look\n#E1 = search[q]\nEvidence: found',
    );
  });

  test('the offline provider writes a valid plan for the planner schema: two independent steps, then one using both', async () => {
    const format = responseFormatOf('rewoo_plan', planSchema(workers));
    const plan = offlinePlan(format.schema, 'How many?');
    const r = validatePlan(plan.steps, workers);
    expect(r.ok && r.value.map((s) => s.dependsOn)).toEqual([[], [], ['E1', 'E2']]);
    const reply = await createOfflineProvider().complete(
      {
        profile: { name: 'o', provider: 'offline', model: 'm' },
        messages: [{ role: 'user', content: 'How many?\nMake a plan.' }],
        responseFormat: format,
      },
      { signal: new AbortController().signal },
    );
    expect(parsePlan(reply.text, workers).ok).toBe(true);
  });
});

describe('offline provider with tools', () => {
  const profile = { name: 'o', provider: 'offline' as const, model: 'm' };
  const signal = new AbortController().signal;
  const tools = [
    {
      name: 'search',
      description: 'look up',
      parameters: { type: 'object', properties: { query: { type: 'string' } } },
    },
  ];

  test('with no tool result yet it calls the first tool, arguments from the question; then it answers from the result', async () => {
    const p = createOfflineProvider();
    const first = await p.complete(
      { profile, tools, messages: [{ role: 'user', content: 'population of France?' }] },
      { signal },
    );
    expect(first.finishReason).toBe('tool_calls');
    expect(first.toolCalls).toEqual([
      { id: expect.any(String), name: 'search', arguments: { query: 'population of France?' } },
    ]);
    const second = await p.complete(
      {
        profile,
        tools,
        messages: [
          { role: 'user', content: 'population of France?' },
          { role: 'assistant', content: '', toolCalls: first.toolCalls },
          { role: 'tool', toolCallId: first.toolCalls[0]!.id, name: 'search', content: '68.4 million' },
        ],
      },
      { signal },
    );
    expect(second.toolCalls).toEqual([]);
    expect(second.text).toContain('68.4 million');
  });
});

describe('router', () => {
  test('the schema offers every route and other', () => {
    const s = responseFormatOf('route', routeSchema(['billing', 'tech'])).schema as any;
    expect(s.properties.route.enum).toEqual(['billing', 'tech', 'other']);
  });

  test('a route name matches forgiving case and spaces, anything else does not', () => {
    expect(matchRoute(' Billing ', ['billing', 'tech'])).toBe('billing');
    expect(matchRoute('other', ['billing', 'tech'])).toBeUndefined();
    expect(matchRoute('sales', ['billing', 'tech'])).toBeUndefined();
  });
});

describe('supervisor', () => {
  test('decisions name only known sub-agents', () => {
    const schema = decisionSchema(['researcher', 'writer']);
    expect(
      schema.safeParse({ action: 'delegate', delegations: [{ agent: 'researcher', task: 't' }], answer: '' })
        .success,
    ).toBe(true);
    expect(
      schema.safeParse({ action: 'delegate', delegations: [{ agent: 'hacker', task: 't' }], answer: '' })
        .success,
    ).toBe(false);
  });

  test('the history shows each round with results and failures', () => {
    const text = historyText([
      {
        round: 1,
        action: 'delegate',
        delegations: [
          { agent: 'researcher', task: 'find X', status: 'completed', output: 'X is 4', workflowId: 'w/1' },
          {
            agent: 'writer',
            task: 'draft',
            status: 'failed',
            error: { type: 'E', message: 'quota' },
            workflowId: 'w/2',
          },
        ],
      },
      { round: 2, action: 'invalid', delegations: [], error: 'not JSON' },
    ]);
    expect(text).toContain('- researcher was asked: find X\n  It answered: X is 4');
    expect(text).toContain('It failed: quota');
    expect(text).toContain('Round 2: your decision could not be used: not JSON');
    expect(historyText([])).toBe('(nothing yet)');
  });
});

describe('runDag', () => {
  test('runs each node once its dependencies are done, independent ones at once, up to the limit', async () => {
    const log: string[] = [];
    let running = 0;
    let peak = 0;
    const nodes = [
      { id: 'a', dependsOn: [] },
      { id: 'b', dependsOn: [] },
      { id: 'c', dependsOn: ['a', 'b'] },
      { id: 'd', dependsOn: [] },
    ];
    const out = await runDag(
      nodes,
      async (n, done) => {
        running++;
        peak = Math.max(peak, running);
        log.push(`start ${n.id}`);
        await tick();
        running--;
        return n.dependsOn.map((d) => done.get(d)).join('+') || n.id.toUpperCase();
      },
      { limit: 2 },
    );
    expect(out.get('c')).toBe('A+B');
    expect(peak).toBe(2);
    expect(log.indexOf('start c')).toBeGreaterThan(log.indexOf('start b'));
  });

  test('after a failure no node starts, and the failure is thrown', async () => {
    const started: string[] = [];
    const nodes = [
      { id: 'a', dependsOn: [] },
      { id: 'b', dependsOn: ['a'] },
    ];
    await expect(
      runDag(nodes, async (n) => {
        started.push(n.id);
        throw new Error(`${n.id} failed`);
      }),
    ).rejects.toThrow('a failed');
    expect(started).toEqual(['a']);
  });

  test('a cycle is an error naming the nodes', async () => {
    await expect(
      runDag(
        [
          { id: 'a', dependsOn: ['b'] },
          { id: 'b', dependsOn: ['a'] },
        ],
        async () => 1,
      ),
    ).rejects.toThrow("nodes 'a', 'b' can never start");
  });
});
