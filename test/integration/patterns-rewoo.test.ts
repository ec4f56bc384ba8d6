import { z } from 'zod';
import { evaluateArithmetic } from '../../examples/tools';
import { createTool } from '../../src/activities/tools';
import type { ModelProfile } from '../../src/types';
import type { PlanExecuteResult } from '../../src/workflows/patterns';
import type { FakeRequest } from '../support/fake-model-server';
import { startPatternsHarness, type PatternsHarness } from '../support/patterns-harness';

const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };

let inFlight = 0;
let peak = 0;
const ran: string[] = [];
const population = createTool({
  name: 'population',
  description: 'Population of a country, in millions.',
  input: z.object({ country: z.string() }),
  run: async ({ country }) => {
    ran.push(`population(${country})`);
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, 300));
    inFlight--;
    return { France: '68.4', Germany: '84.5' }[country] ?? 'unknown';
  },
});
const calc = createTool({
  name: 'calc',
  description: 'Evaluate arithmetic.',
  input: z.object({ expression: z.string() }),
  run: ({ expression }) => {
    ran.push(`calc(${expression})`);
    return String(evaluateArithmetic(expression));
  },
});

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [population, calc] });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  ran.length = 0;
  peak = 0;
});

const tag = () => Math.random().toString(36).slice(2, 8);
const bySystem = (system: string) => (r: FakeRequest) => r.system === system;
const spec = (t: string, extra: object = {}) => ({
  input: 'How many people live in France and Germany together?',
  planner: { name: 'planner', profile: openai, system: `planner ${t}` },
  solver: { name: 'solver', profile: openai, system: `solver ${t}` },
  tools: ['population', 'calc'],
  workers: [{ name: 'LLM', profile: openai, system: `worker ${t}`, description: 'a language model' }],
  ...extra,
});
const PLAN = {
  steps: [
    { id: 'E1', description: 'France', tool: 'population', input: 'France' },
    { id: 'E2', description: 'Germany', tool: 'population', input: 'Germany' },
    { id: 'E3', description: 'Add them', tool: 'calc', input: '#E1 + #E2' },
    { id: 'E4', description: 'Say it', tool: 'LLM', input: 'Say #E3 million in words' },
  ],
};

test('the plan runs as a graph: independent steps at once, #E refs filled in, solver sees all evidence, tokens per role', async () => {
  const t = tag();
  h.fake.on(bySystem(`planner ${t}`), { text: JSON.stringify(PLAN), usage: { input: 100, output: 40 } });
  h.fake.on(bySystem(`worker ${t}`), (req) => ({
    text: `WORDS(${req.lastUserText})`,
    usage: { input: 10, output: 5 },
  }));
  h.fake.on(bySystem(`solver ${t}`), { text: 'About 152.9 million.', usage: { input: 200, output: 20 } });
  const res = await h.run<PlanExecuteResult>('planExecuteWorkflow', spec(t));

  expect(res.output).toBe('About 152.9 million.');
  // E1 and E2 ran at the same time; E3 only after both, with their evidence in place of #E1 and #E2.
  expect(peak).toBe(2);
  expect(ran.slice(2)).toEqual(['calc(68.4 + 84.5)']);
  expect(res.result.evidence).toEqual({
    E1: '68.4',
    E2: '84.5',
    E3: '152.9',
    E4: 'WORDS(Say 152.9 million in words)',
  });
  expect(res.result.plan.map((s) => [s.id, s.dependsOn])).toEqual([
    ['E1', []],
    ['E2', []],
    ['E3', ['E1', 'E2']],
    ['E4', ['E3']],
  ]);
  // The planner was offered the workers as an enum; the solver read every step with its evidence.
  const plannerReq = h.fake.requests.find(bySystem(`planner ${t}`))!;
  expect(plannerReq.body.response_format.json_schema.name).toBe('rewoo_plan');
  expect(
    plannerReq.body.response_format.json_schema.schema.properties.steps.items.properties.tool.enum,
  ).toEqual(['population', 'calc', 'LLM']);
  const solverReq = h.fake.requests.find(bySystem(`solver ${t}`))!;
  expect(solverReq.lastUserText).toContain('#E3 = calc[#E1 + #E2]\nEvidence: 152.9');
  // Each model call once: planner, one LLM worker, solver.
  expect(h.fake.count(bySystem(`planner ${t}`))).toBe(1);
  expect(h.fake.count(bySystem(`worker ${t}`))).toBe(1);
  expect(h.fake.count(bySystem(`solver ${t}`))).toBe(1);

  const u = (input: number, output: number) => ({
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: 0,
  });
  expect(res.result.tokens).toEqual({
    planner: { calls: 1, usage: u(100, 40), costUsd: 0 },
    worker: { calls: 1, usage: u(10, 5), costUsd: 0 },
    solver: { calls: 1, usage: u(200, 20), costUsd: 0 },
  });
  expect(res.roles).toEqual(res.result.tokens);
  expect(res.usage).toEqual(u(310, 65));
  expect(res.steps.map((s) => [s.name, s.status, s.calls, s.toolCalls ?? 0])).toEqual([
    ['planner', 'completed', 1, 0],
    ['E1:population', 'completed', 0, 1],
    ['E2:population', 'completed', 0, 1],
    ['E3:calc', 'completed', 0, 1],
    ['E4:LLM', 'completed', 1, 0],
    ['solver', 'completed', 1, 0],
  ]);
});

test('an invalid plan goes back to the planner with the reason; the second plan runs', async () => {
  const t = tag();
  const bad = { steps: [{ id: 'E1', description: 'x', tool: 'calc', input: '#E2 * 2' }] };
  const good = { steps: [{ id: 'E1', description: 'x', tool: 'calc', input: '2 * 2' }] };
  h.fake.on(bySystem(`planner ${t}`), (_req, n) => ({ text: JSON.stringify(n === 0 ? bad : good) }));
  h.fake.on(bySystem(`solver ${t}`), { text: 'FOUR' });
  const res = await h.run<PlanExecuteResult>('planExecuteWorkflow', spec(t));

  expect(res.output).toBe('FOUR');
  expect(res.result.evidence).toEqual({ E1: '4' });
  expect(res.result.tokens.planner.calls).toBe(2);
  const retry = h.fake.requests.filter(bySystem(`planner ${t}`))[1]!;
  expect(retry.lastUserText).toContain("- steps: step E1 cites #E2, which is not an earlier step's evidence");
});

test('a planner that never writes a valid plan fails the run with StructuredOutputError after its attempts', async () => {
  const t = tag();
  h.fake.on(bySystem(`planner ${t}`), {
    text: JSON.stringify({ steps: [{ id: 'E1', description: 'x', tool: 'browser', input: 'q' }] }),
  });
  const failure = await h.runFailing('planExecuteWorkflow', spec(t, { planAttempts: 3 }));
  expect(failure.progress?.error).toMatchObject({ step: 'planner', type: 'StructuredOutputError' });
  expect(failure.message).toMatch(
    /step 'planner': the model's reply does not match the output schema at 'steps': step E1 uses 'browser', which is not a worker/,
  );
  expect(failure.message).toContain('3 replies refused (2 repairs)');
  expect(h.fake.count(bySystem(`planner ${t}`))).toBe(3);
  expect(h.fake.count(bySystem(`solver ${t}`))).toBe(0);
});
