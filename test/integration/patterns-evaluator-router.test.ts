import type { ModelProfile } from '../../src/types';
import type { EvaluatorOptimizerResult, RouteResult } from '../../src/workflows/patterns';
import type { FakeRequest } from '../support/fake-model-server';
import { startPatternsHarness, type PatternsHarness } from '../support/patterns-harness';

const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const anthropic: ModelProfile = { name: 'an', provider: 'anthropic', model: 'claude-test' };

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const tag = () => Math.random().toString(36).slice(2, 8);
const bySystem = (system: string) => (r: FakeRequest) => r.system === system;
const verdict = (pass: boolean, score: number, feedback: string) => ({
  text: JSON.stringify({ pass, score, feedback }),
});

describe('evaluator–optimizer', () => {
  test('stops on the first passing verdict; the revision reads the feedback; structured verdicts on both providers', async () => {
    const t = tag();
    h.fake.on(bySystem(`gen ${t}`), (_req, n) => ({ text: `DRAFT-${n + 1}` }));
    h.fake.on(bySystem(`judge ${t}`), (req) =>
      req.lastUserText.includes('DRAFT-2') ? verdict(true, 9, '') : verdict(false, 4, 'add the numbers'),
    );
    const res = await h.run<EvaluatorOptimizerResult>('evaluatorOptimizerWorkflow', {
      input: 'Describe the release.',
      generator: { name: 'writer', profile: openai, system: `gen ${t}` },
      evaluator: { name: 'editor', profile: anthropic, system: `judge ${t}` },
      maxRounds: 4,
    });

    expect(res.output).toBe('DRAFT-2');
    expect(res.result).toMatchObject({
      passed: true,
      stoppedBy: 'pass',
      best: { round: 2, draft: 'DRAFT-2' },
    });
    expect(res.result.rounds.map((r) => [r.round, r.draft, r.verdict])).toEqual([
      [1, 'DRAFT-1', { pass: false, score: 4, feedback: 'add the numbers' }],
      [2, 'DRAFT-2', { pass: true, score: 9, feedback: '' }],
    ]);
    expect(h.fake.count(bySystem(`gen ${t}`))).toBe(2);
    expect(h.fake.count(bySystem(`judge ${t}`))).toBe(2);
    // Round 2 revises from round 1's draft and feedback.
    const revise = h.fake.requests.filter(bySystem(`gen ${t}`))[1]!;
    expect(revise.lastUserText).toContain('DRAFT-1');
    expect(revise.lastUserText).toContain('add the numbers');
    // Anthropic got the verdict schema as a forced tool.
    const judge = h.fake.requests.find(bySystem(`judge ${t}`))!;
    expect(judge.body.tool_choice).toEqual({ type: 'tool', name: 'verdict' });
    expect(res.steps.map((s) => s.name)).toEqual(['writer#1', 'editor#1', 'writer#2', 'editor#2']);
    expect(res.roles).toMatchObject({ generator: { calls: 2 }, evaluator: { calls: 2 } });
  });

  test('after max rounds without a pass, the best-scored draft is kept; an invalid verdict is repaired', async () => {
    const t = tag();
    const scores: Record<string, number> = { 'DRAFT-1': 4, 'DRAFT-2': 7 };
    h.fake.on(bySystem(`gen ${t}`), (_req, n) => ({ text: `DRAFT-${n + 1}` }));
    h.fake.on(bySystem(`judge ${t}`), (req) => {
      const draft = /DRAFT-\d/.exec(req.allText)![0];
      if (draft in scores) return verdict(false, scores[draft]!, `better than ${scores[draft]}`);
      // Prose instead of a verdict, until the repair says what is wrong.
      return req.lastUserText.startsWith('Your reply does not match')
        ? verdict(false, 5, 'repaired')
        : { text: 'Looks great to me!' };
    });
    const res = await h.run<EvaluatorOptimizerResult>('evaluatorOptimizerWorkflow', {
      input: 'Describe the release.',
      generator: { name: 'writer', profile: openai, system: `gen ${t}` },
      evaluator: { name: 'editor', profile: openai, system: `judge ${t}` },
      maxRounds: 3,
    });

    expect(res.output).toBe('DRAFT-2');
    expect(res.result).toMatchObject({
      passed: false,
      stoppedBy: 'max-rounds',
      best: { round: 2, verdict: { score: 7 } },
    });
    expect(res.result.rounds[2]).toEqual({
      round: 3,
      draft: 'DRAFT-3',
      verdict: { pass: false, score: 5, feedback: 'repaired' },
    });
    expect(res.steps.find((s) => s.name === 'editor#3')).toMatchObject({ calls: 2 });
    expect(res.roles).toMatchObject({ evaluator: { calls: 4 } });
    expect(h.fake.count(bySystem(`gen ${t}`))).toBe(3);
    expect(h.fake.count(bySystem(`judge ${t}`))).toBe(4);
    // OpenAI got the verdict schema as response_format.
    const judge = h.fake.requests.find(bySystem(`judge ${t}`))!;
    expect(judge.body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'verdict' },
    });
  });
});

describe('router', () => {
  const spec = (t: string, classifier: ModelProfile = openai) => ({
    input: `request ${t}`,
    classifier: { name: 'triage', profile: classifier, system: `classify ${t}` },
    routes: {
      billing: {
        name: 'billing',
        profile: openai,
        description: 'payments and invoices',
        system: `billing ${t}`,
      },
      tech: { name: 'tech', profile: openai, description: 'bugs', system: `tech ${t}` },
    },
    default: { name: 'general', profile: openai, system: `general ${t}` },
  });

  test('the classifier picks a named route with structured output, and only that route runs', async () => {
    const t = tag();
    h.fake.on(bySystem(`classify ${t}`), {
      text: JSON.stringify({ route: 'billing', reason: 'an invoice question' }),
    });
    h.fake.on(bySystem(`billing ${t}`), { text: 'BILLING-ANSWER' });
    const res = await h.run<RouteResult>('routerWorkflow', spec(t));

    expect(res.output).toBe('BILLING-ANSWER');
    expect(res.result).toEqual({
      route: 'billing',
      classified: 'billing',
      reason: 'an invoice question',
      output: 'BILLING-ANSWER',
    });
    const classify = h.fake.requests.find(bySystem(`classify ${t}`))!;
    // The route schema is inside OpenAI's strict subset, so it is sent strict.
    expect(classify.body.response_format.json_schema.strict).toBe(true);
    expect(classify.body.response_format.json_schema.schema.properties.route.enum).toEqual([
      'billing',
      'tech',
      'other',
    ]);
    expect(classify.lastUserText).toContain('- billing: payments and invoices');
    expect(h.fake.count(bySystem(`tech ${t}`))).toBe(0);
    expect(h.fake.count(bySystem(`general ${t}`))).toBe(0);
    expect(res.steps.map((s) => [s.name, s.status])).toEqual([
      ['triage', 'completed'],
      ['billing', 'completed'],
    ]);
  });

  test("'other' goes to the default route", async () => {
    const t = tag();
    h.fake.on(bySystem(`classify ${t}`), { text: JSON.stringify({ route: 'other', reason: 'small talk' }) });
    h.fake.on(bySystem(`general ${t}`), { text: 'GENERAL-ANSWER' });
    const res = await h.run<RouteResult>('routerWorkflow', spec(t));
    expect(res.result).toMatchObject({ route: 'default', classified: 'other', output: 'GENERAL-ANSWER' });
    expect(h.fake.count(bySystem(`billing ${t}`)) + h.fake.count(bySystem(`tech ${t}`))).toBe(0);
  });

  test('a route name no route has (here from Anthropic) is asked for again with the error, and the repaired route runs', async () => {
    const t = tag();
    h.fake.on(bySystem(`classify ${t}`), (_req, n) => ({
      text: JSON.stringify({ route: n === 0 ? 'sales' : 'billing', reason: 'a lead' }),
    }));
    h.fake.on(bySystem(`billing ${t}`), { text: 'BILLING-ANSWER' });
    const res = await h.run<RouteResult>('routerWorkflow', spec(t, anthropic));
    expect(res.result).toMatchObject({ route: 'billing', classified: 'billing', output: 'BILLING-ANSWER' });
    expect(h.fake.count(bySystem(`classify ${t}`))).toBe(2);
    const repair = h.fake.requests.filter(bySystem(`classify ${t}`))[1]!;
    expect(repair.lastUserText).toContain(
      '- route: Invalid option: expected one of "billing"|"tech"|"other"',
    );
    expect(res.steps.find((s) => s.name === 'triage')).toMatchObject({ status: 'completed', calls: 2 });
    expect(res.roles).toMatchObject({ classifier: { calls: 2 } });
  });

  test('a classifier that never names a route fails the run with StructuredOutputError after 2 repairs', async () => {
    const t = tag();
    h.fake.on(bySystem(`classify ${t}`), { text: JSON.stringify({ route: 'sales', reason: 'a lead' }) });
    const failure = await h.runFailing('routerWorkflow', spec(t));
    expect(failure.progress?.error).toMatchObject({ step: 'triage', type: 'StructuredOutputError' });
    expect(failure.message).toMatch(
      /step 'triage': the model's reply does not match the output schema at 'route'/,
    );
    expect(h.fake.count(bySystem(`classify ${t}`))).toBe(3);
    expect(h.fake.count(bySystem(`general ${t}`))).toBe(0);
  });
});
