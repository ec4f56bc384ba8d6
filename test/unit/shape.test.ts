import { z } from 'zod';
import { responseFormatOf, parseStructured } from '../../src/workflows/patterns/context';
import { verdictSchema } from '../../src/workflows/patterns/evaluator-optimizer';
import { planSchema } from '../../src/workflows/patterns/plan-execute';
import { routeSchema } from '../../src/workflows/patterns/router';
import { decisionSchema } from '../../src/workflows/patterns/supervisor';

// The zod schemas the patterns used before their shapes were written by hand: what models are
// asked for, and what they are told when a reply misses, must not change.
const zodVerdict = z.object({
  pass: z.boolean().describe('true when the answer fully accomplishes the task'),
  score: z.number().describe('quality from 0 (useless) to 10 (perfect)'),
  feedback: z.string().describe('what to change to make the answer better; empty when nothing'),
});
const zodPlan = (workers: string[]) =>
  z.object({
    steps: z
      .array(
        z.object({
          id: z.string().describe('E1 for the first step, E2 for the second, and so on'),
          description: z.string().describe('what this step finds out, in one sentence'),
          tool: z.enum(workers as [string, ...string[]]).describe('the worker that runs this step'),
          input: z.string().describe("the worker's input; write #E1, #E2... where earlier evidence goes"),
        }),
      )
      .min(1),
  });
const zodRoute = (names: string[]) =>
  z.object({
    route: z
      .enum([...names, 'other'] as unknown as [string, ...string[]])
      .describe("one route name, or 'other' when none fits"),
    reason: z.string().describe('one sentence: why this route'),
  });
const zodDecision = (agents: string[]) =>
  z.object({
    action: z
      .enum(['delegate', 'finish'])
      .describe("'delegate' to hand out tasks, 'finish' when the task is done"),
    delegations: z
      .array(
        z.object({
          agent: z.enum(agents as [string, ...string[]]).describe('the sub-agent'),
          task: z.string().describe('what it should do, self-contained: it sees nothing else'),
        }),
      )
      .describe('with delegate: one or more tasks, run at the same time'),
    answer: z.string().describe('with finish: the final answer to the task'),
  });

const pairs = [
  ['verdict', verdictSchema, zodVerdict],
  ['plan', planSchema(['search', 'calc']), zodPlan(['search', 'calc'])],
  ['route', routeSchema(['billing', 'tech']), zodRoute(['billing', 'tech'])],
  ['decision', decisionSchema(['a', 'b']), zodDecision(['a', 'b'])],
] as const;

test.each(pairs)('the %s shape asks models for the JSON Schema zod gave', (name, shape, zod) => {
  expect(JSON.stringify(responseFormatOf(name, shape))).toBe(JSON.stringify(responseFormatOf(name, zod)));
});

const replies = [
  '{}',
  'not json',
  'null',
  '[]',
  '{"pass": "yes", "score": "9", "feedback": 1, "extra": true}',
  '{"pass": true, "score": 7, "feedback": "ok", "extra": 1}',
  '{"score": NaN}',
  '{"steps": []}',
  '{"steps": [{"id": "E1", "description": "d", "tool": "web", "input": "x"}]}',
  '{"steps": [{"id": "E1", "description": "d", "tool": "calc", "input": "x"}, {"id": 2}]}',
  '{"route": "Billing", "reason": "r"}',
  '{"route": "tech", "reason": "r", "more": 1}',
  '{"action": "delegate", "delegations": [{"agent": "c", "task": 3}], "answer": ""}',
  '{"action": "finish", "delegations": "none", "answer": "done"}',
];

test.each(pairs)('the %s shape judges replies as zod did (values, paths and messages)', (_n, shape, zod) => {
  for (const reply of replies)
    expect([reply, parseStructured<unknown>(reply, shape)]).toEqual([
      reply,
      parseStructured<unknown>(reply, zod),
    ]);
});
