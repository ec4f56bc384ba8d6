import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import type { ModelProfile } from '../../src/types';
import type { SupervisorResult } from '../../src/workflows/patterns';
import type { FakeRequest } from '../support/fake-model-server';
import { startPatternsHarness, uniqueId, type PatternsHarness } from '../support/patterns-harness';

const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const anthropic: ModelProfile = { name: 'an', provider: 'anthropic', model: 'claude-test' };

const looked: string[] = [];
const lookup = createTool({
  name: 'lookup',
  description: 'Look a fact up.',
  input: z.object({ key: z.string() }),
  run: ({ key }) => {
    looked.push(key);
    return key === 'france' ? '68.4 million' : 'unknown';
  },
});

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [lookup] });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.fake.reset();
  looked.length = 0;
});

const tag = () => Math.random().toString(36).slice(2, 8);
const bySystem = (system: string) => (r: FakeRequest) => r.system === system;
const decide = (
  action: 'delegate' | 'finish',
  delegations: { agent: string; task: string }[] = [],
  answer = '',
) => ({
  text: JSON.stringify({ action, delegations, answer }),
  usage: { input: 50, output: 10 },
});
const spec = (t: string, maxRounds = 4) => ({
  input: 'Brief on the population of France.',
  supervisor: { name: 'lead', profile: openai, system: `lead ${t}` },
  agents: [
    {
      name: 'researcher',
      profile: anthropic,
      system: `researcher ${t}`,
      description: 'finds facts',
      tools: ['lookup'],
      maxIterations: 3,
    },
    { name: 'writer', profile: openai, system: `writer ${t}`, description: 'writes prose' },
  ],
  maxRounds,
});

async function activityTypes(workflowId: string): Promise<string[]> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.activityTaskScheduledEventAttributes
      ? [e.activityTaskScheduledEventAttributes.activityType!.name!]
      : [],
  );
}

test('sub-agents run as child workflows (in parallel within a round), the supervisor reads their results and finishes', async () => {
  const t = tag();
  h.fake.on(bySystem(`lead ${t}`), (req, n) => {
    if (n === 0)
      return decide('delegate', [
        { agent: 'researcher', task: 'Find the population of France.' },
        { agent: 'writer', task: 'Draft an opening line about France.' },
      ]);
    if (n === 1)
      return decide('delegate', [
        {
          agent: 'writer',
          task: `Write the brief using: ${req.lastUserText.includes('68.4 million') ? '68.4 million' : '?'}`,
        },
      ]);
    return decide('finish', [], 'France has about 68.4 million people.');
  });
  h.fake.on(bySystem(`researcher ${t}`), (req) =>
    req.messages.some((m) => m.role === 'tool')
      ? { text: 'France: 68.4 million', usage: { input: 30, output: 5 } }
      : { toolCalls: [{ name: 'lookup', arguments: { key: 'france' } }], usage: { input: 20, output: 5 } },
  );
  h.fake.on(bySystem(`writer ${t}`), (req) => ({
    text: `PROSE(${req.lastUserText})`,
    usage: { input: 10, output: 10 },
  }));

  const workflowId = uniqueId('supervisor');
  const res = await h.run<SupervisorResult>('supervisorWorkflow', spec(t), workflowId);

  expect(res.output).toBe('France has about 68.4 million people.');
  expect(res.result.stoppedBy).toBe('finish');
  expect(
    res.result.rounds.map((r) => [r.round, r.action, r.delegations.map((d) => `${d.agent}:${d.status}`)]),
  ).toEqual([
    [1, 'delegate', ['researcher:completed', 'writer:completed']],
    [2, 'delegate', ['writer:completed']],
    [3, 'finish', []],
  ]);
  const [research, opening] = res.result.rounds[0]!.delegations;
  expect(research!.output).toBe('France: 68.4 million');
  expect(opening!.output).toBe('PROSE(Draft an opening line about France.)');
  // Round 2's decision was made after reading round 1's results.
  expect(res.result.rounds[1]!.delegations[0]!.task).toBe('Write the brief using: 68.4 million');

  // Each delegation is a child workflow of this run, with its own history holding its own calls.
  const children = res.result.rounds.flatMap((r) => r.delegations);
  for (const d of children) {
    const desc = await h.client.workflow.getHandle(d.workflowId).describe();
    expect(desc.type).toBe('batonSubAgent');
    expect(desc.parentExecution?.workflowId).toBe(workflowId);
    expect(desc.status.name).toBe('COMPLETED');
  }
  expect(await activityTypes(research!.workflowId)).toEqual(['callModel', 'callTool', 'callModel']);
  expect(await activityTypes(workflowId)).toEqual(['callModel', 'callModel', 'callModel']);
  expect(looked).toEqual(['france']);

  // Usage: the supervisor's 3 calls, and what each child spent, counted in the run.
  expect(res.roles).toMatchObject({
    supervisor: { calls: 3, usage: { inputTokens: 150, outputTokens: 30 } },
    researcher: { calls: 2, usage: { inputTokens: 50, outputTokens: 10 } },
    writer: { calls: 2, usage: { inputTokens: 20, outputTokens: 20 } },
  });
  expect(res.usage).toMatchObject({ inputTokens: 220, outputTokens: 60 });
  expect(res.steps.map((s) => s.name)).toEqual([
    'lead#1',
    'researcher#1.1',
    'writer#1.2',
    'lead#2',
    'writer#2.1',
    'lead#3',
  ]);
  expect(res.steps.find((s) => s.name === 'researcher#1.1')).toMatchObject({ calls: 2, toolCalls: 1 });
});

test('a sub-agent that fails is reported to the supervisor, which carries on', async () => {
  const t = tag();
  h.fake.on(bySystem(`lead ${t}`), (req, n) =>
    n === 0
      ? decide('delegate', [{ agent: 'writer', task: 'Write it.' }])
      : decide('finish', [], req.lastUserText.includes('It failed:') ? 'SAW-FAILURE' : 'MISSED-FAILURE'),
  );
  h.fake.on(bySystem(`writer ${t}`), { status: 400, message: 'content policy' });
  const res = await h.run<SupervisorResult>('supervisorWorkflow', spec(t));

  expect(res.output).toBe('SAW-FAILURE');
  const d = res.result.rounds[0]!.delegations[0]!;
  expect(d).toMatchObject({ agent: 'writer', status: 'failed', error: { type: 'ModelBadRequest' } });
  expect(d.error!.message).toContain('content policy');
  expect((await h.client.workflow.getHandle(d.workflowId).describe()).status.name).toBe('FAILED');
  expect(res.steps.find((s) => s.name === 'writer#1.1')!.status).toBe('failed');
});

test('out of rounds, the supervisor is asked once more for the answer', async () => {
  const t = tag();
  h.fake.on(bySystem(`lead ${t}`), (req) =>
    req.body.response_format
      ? decide('delegate', [{ agent: 'writer', task: 'More.' }])
      : { text: 'FINAL-FROM-WORK-SO-FAR' },
  );
  h.fake.on(bySystem(`writer ${t}`), { text: 'MORE' });
  const res = await h.run<SupervisorResult>('supervisorWorkflow', spec(t, 2));

  expect(res.output).toBe('FINAL-FROM-WORK-SO-FAR');
  expect(res.result.stoppedBy).toBe('max-rounds');
  expect(res.result.rounds).toHaveLength(2);
  expect(h.fake.count(bySystem(`lead ${t}`))).toBe(3);
  expect(h.fake.count(bySystem(`writer ${t}`))).toBe(2);
  expect(h.fake.requests.filter(bySystem(`lead ${t}`))[2]!.lastUserText).toContain('No rounds are left');
});

test('a decision naming no sub-agent is asked for again with the error, in the same round', async () => {
  const t = tag();
  h.fake.on(bySystem(`lead ${t}`), (req) =>
    req.lastUserText.startsWith('Your reply does not match')
      ? decide('finish', [], 'FIXED')
      : decide('delegate', [{ agent: 'editor', task: 'Edit it.' }]),
  );
  const res = await h.run<SupervisorResult>('supervisorWorkflow', spec(t));

  expect(res.output).toBe('FIXED');
  expect(res.result.rounds).toEqual([{ round: 1, action: 'finish', delegations: [] }]);
  expect(h.fake.count(bySystem(`lead ${t}`))).toBe(2);
  expect(h.fake.requests.filter(bySystem(`lead ${t}`))[1]!.lastUserText).toContain('- delegations.0.agent:');
  expect(res.steps.find((s) => s.name === 'lead#1')).toMatchObject({ calls: 2 });
});
