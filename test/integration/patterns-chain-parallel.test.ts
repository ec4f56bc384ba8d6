import type { ModelProfile } from '../../src/types';
import type { ChainResult, FanOutResult } from '../../src/workflows/patterns';
import { startPatternsHarness, type PatternsHarness } from '../support/patterns-harness';

const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const anthropic: ModelProfile = { name: 'an', provider: 'anthropic', model: 'claude-test' };
// One attempt: a scripted fault fails its branch at once.
const once = { maximumAttempts: 1 };

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const tag = () => Math.random().toString(36).slice(2, 8);

test('chain: each agent reads the ones before it, each model call made once', async () => {
  const t = tag();
  h.fake.on(`Outline ${t}`, { text: 'OUTLINE', usage: { input: 10, output: 5 } });
  h.fake.on(`Draft ${t} from OUTLINE`, { text: 'DRAFT', usage: { input: 20, output: 8 } });
  h.fake.on(`Polish ${t}: DRAFT / OUTLINE`, { text: 'FINAL' });
  const res = await h.run<ChainResult>('chainWorkflow', {
    input: 'agents',
    agents: [
      { name: 'outline', profile: openai, prompt: `Outline ${t} {{input}}` },
      { name: 'draft', profile: anthropic, prompt: `Draft ${t} from {{outline}}` },
      { name: 'polish', profile: openai, prompt: `Polish ${t}: {{steps.draft}} / {{outline}}` },
    ],
  });
  expect(res.output).toBe('FINAL');
  expect(res.result.steps).toEqual([
    { name: 'outline', output: 'OUTLINE' },
    { name: 'draft', output: 'DRAFT' },
    { name: 'polish', output: 'FINAL' },
  ]);
  expect(res.steps.map((s) => [s.name, s.status, s.calls])).toEqual([
    ['outline', 'completed', 1],
    ['draft', 'completed', 1],
    ['polish', 'completed', 1],
  ]);
  expect(res.steps[1]!.usage).toMatchObject({ inputTokens: 20, outputTokens: 8 });
  expect(h.fake.count(t)).toBe(3);
});

test('chain: a link without a prompt reads the previous output', async () => {
  const t = tag();
  h.fake.on(`first ${t}`, { text: `second ${t}` });
  h.fake.on((r) => r.lastUserText === `second ${t}`, { text: 'THIRD' });
  const res = await h.run<ChainResult>('chainWorkflow', {
    input: `first ${t}`,
    agents: [
      { name: 'a', profile: openai },
      { name: 'b', profile: openai },
    ],
  });
  expect(res.output).toBe('THIRD');
});

test('fan-out: branches run at once up to the limit, and the join sees every branch', async () => {
  const t = tag();
  let inFlight = 0;
  let peak = 0;
  for (const b of ['one', 'two', 'three', 'four']) {
    h.fake.on(`Branch ${b} ${t}`, async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 300));
      inFlight--;
      return { text: `${b.toUpperCase()}-DONE` };
    });
  }
  h.fake.on(`Join ${t}`, (req) => ({ text: `JOINED(${req.lastUserText.length})` }));
  const res = await h.run<FanOutResult>('fanOutWorkflow', {
    input: 'the code',
    agents: ['one', 'two', 'three', 'four'].map((b) => ({
      name: b,
      profile: openai,
      prompt: `Branch ${b} ${t}: {{input}}`,
    })),
    limit: 2,
    join: { name: 'join', profile: openai, prompt: `Join ${t}:\n{{branches}}` },
  });

  expect(peak).toBe(2);
  expect(res.result.branches.map((b) => [b.name, b.status, b.output])).toEqual([
    ['one', 'completed', 'ONE-DONE'],
    ['two', 'completed', 'TWO-DONE'],
    ['three', 'completed', 'THREE-DONE'],
    ['four', 'completed', 'FOUR-DONE'],
  ]);
  const joinReq = h.fake.requests.find((r) => r.allText.includes(`Join ${t}`))!;
  expect(joinReq.lastUserText).toContain('## one\nONE-DONE');
  expect(joinReq.lastUserText).toContain('## four\nFOUR-DONE');
  expect(res.output).toMatch(/^JOINED/);
  expect(h.fake.count(`Branch`)).toBe(4);
});

test("fan-out 'collect': a failed branch is reported with its status, the others complete and the join sees them", async () => {
  const t = tag();
  h.fake.on(`Branch good ${t}`, { text: 'GOOD' });
  h.fake.on(`Branch bad ${t}`, { status: 400, message: 'this prompt is not allowed' });
  h.fake.on(`Join ${t}`, (req) => ({ text: req.lastUserText }));
  const res = await h.run<FanOutResult>('fanOutWorkflow', {
    input: 'x',
    agents: ['good', 'bad'].map((b) => ({
      name: b,
      profile: openai,
      prompt: `Branch ${b} ${t}`,
      retry: once,
    })),
    onError: 'collect',
    join: { name: 'join', profile: openai, prompt: `Join ${t}:\n{{branches}}` },
  });
  expect(res.result.branches).toEqual([
    { name: 'good', status: 'completed', output: 'GOOD' },
    {
      name: 'bad',
      status: 'failed',
      error: { type: 'ModelBadRequest', message: expect.stringContaining('this prompt is not allowed') },
    },
  ]);
  expect(res.output).toContain('## bad (failed: ModelBadRequest:');
  expect(res.steps.find((s) => s.name === 'bad')!.status).toBe('failed');
  expect(res.status).toBe('completed');
});

test("fan-out 'fail-fast': the first failure fails the run naming the branch, and no branch starts after it", async () => {
  const t = tag();
  h.fake.on(`Branch`, { text: 'OK' });
  h.fake.on(`Branch b1 ${t}`, { status: 400, message: 'refused' });
  const failure = await h.runFailing('fanOutWorkflow', {
    input: 'x',
    agents: ['b1', 'b2', 'b3'].map((b) => ({
      name: b,
      profile: openai,
      prompt: `Branch ${b} ${t}`,
      retry: once,
    })),
    limit: 1,
  });
  expect(failure.type).toBe('StepFailed');
  expect(failure.message).toMatch(/^step 'b1' failed: .*refused/);
  expect(failure.progress!.steps.map((s) => s.name)).toEqual(['b1']);
  expect(h.fake.count(`Branch b2 ${t}`)).toBe(0);
  expect(h.fake.count(`Branch b3 ${t}`)).toBe(0);
});

test('map: one agent per item, each reading {{item}}', async () => {
  const t = tag();
  h.fake.on(`Summarise ${t}`, (req) => ({ text: `S(${req.lastUserText.split(': ')[1]})` }));
  const res = await h.run<FanOutResult>('mapWorkflow', {
    input: 'book',
    items: ['ch1', 'ch2', 'ch3'],
    agent: { name: 'sum', profile: openai, prompt: `Summarise ${t} of {{input}}: {{item}}` },
    limit: 2,
  });
  expect(res.result.branches.map((b) => [b.name, b.output])).toEqual([
    ['sum[1]', 'S(ch1)'],
    ['sum[2]', 'S(ch2)'],
    ['sum[3]', 'S(ch3)'],
  ]);
  expect(h.fake.count(`Summarise ${t}`)).toBe(3);
});

test('a spec a pattern cannot run fails the run at once, non-retryably, as InvalidDefinition', async () => {
  const failure = await h.runFailing('chainWorkflow', { input: 'x', agents: [] });
  expect(failure.type).toBe('StepFailed');
  expect(failure.progress?.error).toMatchObject({
    type: 'InvalidDefinition',
    message: 'chain: give at least one agent',
  });
});

test("an agent's outputSchema: an unfit reply is repaired (outputRepairs: 1), then fails with StructuredOutputError", async () => {
  const t = tag();
  const outputSchema = {
    type: 'object',
    properties: { n: { type: 'integer' } },
    required: ['n'],
    additionalProperties: false,
  };
  h.fake.on(`count ${t}`, (req) =>
    req.lastUserText.startsWith('Your reply does not match')
      ? { text: '{"n": 3}' }
      : { text: '{"n": "three"}' },
  );
  const res = await h.run<ChainResult>('chainWorkflow', {
    input: 'x',
    agents: [{ name: 'count', profile: openai, prompt: `count ${t}`, outputSchema, outputRepairs: 1 }],
  });
  expect(res.output).toBe('{"n":3}');
  expect(h.fake.count(`count ${t}`)).toBe(2);
  expect(
    h.fake.requests.find((r) => r.allText.includes(`count ${t}`))!.body.response_format.json_schema.strict,
  ).toBe(true);

  const u = tag();
  h.fake.on(`count ${u}`, { text: '{"n": "three"}' });
  const failure = await h.runFailing('chainWorkflow', {
    input: 'x',
    agents: [{ name: 'count', profile: openai, prompt: `count ${u}`, outputSchema, outputRepairs: 1 }],
  });
  expect(failure.progress?.error).toMatchObject({ step: 'count', type: 'StructuredOutputError' });
  expect(failure.message).toContain("at 'n': must be integer");
  expect(failure.message).toContain('2 replies refused (1 repair)');
  expect(h.fake.count(`count ${u}`)).toBe(2);
});
