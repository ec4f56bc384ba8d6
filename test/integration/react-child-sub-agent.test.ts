/**
 * A supervisor's sub-agent (its own workflow, batonSubAgent) with a long ReAct loop hands its
 * remaining turns to a child workflow once its history holds `continueAsNewAfterEvents` events
 * (patch 'baton-react-child'): its history stays bounded, each tool call is made once with the
 * key the sub-agent would give it.
 */
import { z } from 'zod';
import { createTool, type ToolContext } from '../../src/activities/tools';
import type { ModelProfile } from '../../src/types';
import type { SupervisorResult } from '../../src/workflows/patterns';
import type { FakeRequest } from '../support/fake-model-server';
import { startPatternsHarness, uniqueId, type PatternsHarness } from '../support/patterns-harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const EVENTS = 150;

const keys: string[] = [];
const step = createTool({
  name: 'step',
  description: 'Take step n.',
  input: z.object({ n: z.number() }),
  run: ({ n }, ctx: ToolContext) => {
    keys.push(ctx.idempotencyKey);
    return `took step ${n}`;
  },
});

let h: PatternsHarness;
beforeAll(async () => {
  h = await startPatternsHarness({ tools: [step] });
});
afterAll(async () => {
  await h?.close();
});

const toolResults = (req: FakeRequest) => req.messages.filter((m) => m.role === 'tool').length;

async function childStarts(workflowId: string): Promise<string[]> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((w): w is string => typeof w === 'string');
}

test('a 60-turn ReAct sub-agent goes on in a child: its history stays bounded, each tool call once with its keys', async () => {
  const t = Math.random().toString(36).slice(2, 8);
  h.fake.on(
    (r: FakeRequest) => r.system === `lead ${t}`,
    (_req, n) => ({
      text: JSON.stringify(
        n === 0
          ? { action: 'delegate', delegations: [{ agent: 'walker', task: 'Walk 60 steps.' }], answer: '' }
          : { action: 'finish', delegations: [], answer: 'walked' },
      ),
    }),
  );
  h.fake.on(
    (r: FakeRequest) => r.system === `walker ${t}`,
    (req) => {
      const done = toolResults(req);
      return done >= 60
        ? { text: `finished after ${done} steps` }
        : { toolCalls: [{ id: `c${done + 1}`, name: 'step', arguments: { n: done + 1 } }] };
    },
  );
  const workflowId = uniqueId('react-child-sub-agent');
  const res = await h.run<SupervisorResult>(
    'supervisorWorkflow',
    {
      input: 'Walk.',
      options: { continueAsNewAfterEvents: EVENTS },
      supervisor: { name: 'lead', profile, system: `lead ${t}` },
      agents: [
        {
          name: 'walker',
          profile,
          system: `walker ${t}`,
          description: 'walks',
          tools: ['step'],
          maxIterations: 100,
        },
      ],
      maxRounds: 3,
    },
    workflowId,
  );
  expect(res.output).toBe('walked');
  const d = res.result.rounds[0]!.delegations[0]!;
  expect(d).toMatchObject({ status: 'completed', output: 'finished after 60 steps' });
  const sub = `${workflowId}/walker-1.1`;
  expect(d.workflowId).toBe(sub);
  expect(keys).toEqual(Array.from({ length: 60 }, (_, i) => `${sub}/walker#${i + 1}`));
  const children = await childStarts(sub);
  expect(children[0]).toBe(`${sub}/walker/react`);
  const history = await h.client.workflow.getHandle(sub).fetchHistory();
  expect(history.events!.length).toBeLessThan(EVENTS + 20 + 10 * children.length);
  // The sub-agent's progress (read by the supervisor) has all the calls.
  expect(res.steps.find((s) => s.name === 'walker#1.1')).toMatchObject({ calls: 61, toolCalls: 60 });
}, 300_000);
