import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';
import {
  createTool,
  createToolActivities,
  observationText,
  toolParameters,
  ToolNotRun,
  type ToolCallResult,
} from '../../src/activities/tools';

const add = createTool({
  name: 'add',
  description: 'Add two numbers.',
  input: z.object({ a: z.number(), b: z.number().describe('the second number') }),
  run: ({ a, b }) => a + b,
});
const boom = createTool({
  name: 'boom',
  description: 'Always fails.',
  input: z.object({}),
  run: () => {
    throw new Error('the disk is full');
  },
});
const retryMe = createTool({
  name: 'retry_me',
  description: 'Asks Temporal for a retry.',
  input: z.object({}),
  run: () => {
    throw ApplicationFailure.retryable('upstream busy', 'Busy');
  },
});
const gated = createTool({
  name: 'send_email',
  description: 'Send an email.',
  input: z.object({ to: z.string() }),
  requiresApproval: true,
  run: () => 'sent',
});
const seen: unknown[] = [];
const echo = createTool({
  name: 'echo',
  description: 'Echo the context it got.',
  input: z.object({ text: z.string().default('hi') }),
  run: (input, ctx) => {
    seen.push({ input, key: ctx.idempotencyKey, attempt: ctx.attempt, aborted: ctx.signal.aborted });
    return { said: input.text };
  },
});

const pay = createTool({
  name: 'pay',
  description: 'Pay an invoice (not idempotent).',
  input: z.object({ how: z.enum(['ok', 'busy', 'declined', 'broken']) }),
  idempotent: false,
  run: ({ how }) => {
    if (how === 'busy') throw new ToolNotRun('the bank is busy', { retry: true });
    if (how === 'declined') throw new ToolNotRun('card declined');
    if (how === 'broken') throw new Error('socket hang up');
    return 'paid';
  },
});

const acts = createToolActivities([add, boom, retryMe, gated, echo, pay]);
const env = () => new MockActivityEnvironment({ activityId: '7', attempt: 2 });

test('a valid call returns the tool result as the observation', async () => {
  const r = await env().run(acts.callTool, { name: 'add', arguments: { a: 2, b: 3 } });
  expect(r).toEqual({ ok: true, content: '5' });
});

test('objects come back as JSON; the tool gets the parsed input (defaults applied), a signal and an idempotency key', async () => {
  const r = await env().run(acts.callTool, { name: 'echo', arguments: {} });
  expect(r).toEqual({ ok: true, content: '{"said":"hi"}' });
  expect(seen[0]).toEqual({
    input: { text: 'hi' },
    key: expect.stringMatching(/\/7$/),
    attempt: 2,
    aborted: false,
  });
});

test('the key the workflow computed reaches the tool, with its own attempt number', async () => {
  seen.length = 0;
  await env().run(acts.callTool, { name: 'echo', arguments: {}, idempotencyKey: 'run-1/step#3', attempt: 2 });
  expect(seen[0]).toMatchObject({ key: 'run-1/step#3', attempt: 2 });
});

test('ToolNotRun: with retry a retryable ToolNotRun failure, without it an observation', async () => {
  await expect(env().run(acts.callTool, { name: 'pay', arguments: { how: 'busy' } })).rejects.toMatchObject({
    type: 'ToolNotRun',
    nonRetryable: false,
    message: 'the bank is busy',
  });
  expect(await env().run(acts.callTool, { name: 'pay', arguments: { how: 'declined' } })).toEqual({
    ok: false,
    error: 'ToolFailed',
    content: "Error: tool 'pay' failed: card declined",
  });
});

test('any other error of a non-idempotent tool is a non-retryable ToolError (its outcome is unknown)', async () => {
  await expect(env().run(acts.callTool, { name: 'pay', arguments: { how: 'broken' } })).rejects.toMatchObject(
    {
      type: 'ToolError',
      nonRetryable: true,
      message: 'socket hang up',
    },
  );
  // The agent's tool list may say so for a tool the worker registers as idempotent.
  await expect(
    env().run(acts.callTool, { name: 'boom', arguments: {}, idempotent: false }),
  ).rejects.toMatchObject({ type: 'ToolError', nonRetryable: true });
  const [p] = await acts.describeTools(['pay']);
  expect(p).toMatchObject({ name: 'pay', idempotent: false });
});

test('arguments that fail the zod schema come back as an observation naming the field, the tool does not run', async () => {
  const r: ToolCallResult = await env().run(acts.callTool, { name: 'add', arguments: { a: 'two', b: 3 } });
  expect(r.ok).toBe(false);
  expect(r.error).toBe('InvalidArguments');
  expect(r.content).toMatch(/invalid arguments for tool 'add'/);
  expect(r.content).toMatch(/→ at a/);
});

test('a thrown tool error comes back as an observation, not a failure', async () => {
  const r = await env().run(acts.callTool, { name: 'boom', arguments: {} });
  expect(r).toEqual({
    ok: false,
    error: 'ToolFailed',
    content: "Error: tool 'boom' failed: the disk is full",
  });
});

test('an ApplicationFailure thrown by a tool is passed on, so Temporal retries it', async () => {
  await expect(env().run(acts.callTool, { name: 'retry_me', arguments: {} })).rejects.toMatchObject({
    type: 'Busy',
    nonRetryable: false,
  });
});

test('a tool outside the allowlist is refused as an observation', async () => {
  const r = await env().run(acts.callTool, { name: 'boom', arguments: {}, allowed: ['add'] });
  expect(r).toEqual({
    ok: false,
    error: 'NotAllowed',
    content: "Error: tool 'boom' is not allowed for this agent (allowed: add).",
  });
});

test('an unknown tool is a non-retryable UnknownTool naming the registered tools', async () => {
  const err = await env()
    .run(acts.callTool, { name: 'nope', arguments: {} })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'UnknownTool', nonRetryable: true });
  expect((err as Error).message).toContain(
    "unknown tool 'nope' (this worker registers: add, boom, echo, pay, retry_me, send_email)",
  );
  await expect(acts.describeTools(['add', 'nope'])).rejects.toMatchObject({ type: 'UnknownTool' });
});

test('describeTools gives JSON Schemas from zod and the approval flag', async () => {
  const [a, g] = await acts.describeTools(['add', 'send_email']);
  expect(a).toEqual({
    name: 'add',
    description: 'Add two numbers.',
    requiresApproval: false,
    parameters: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number', description: 'the second number' } },
      required: ['a', 'b'],
    },
  });
  expect(g!.requiresApproval).toBe(true);
  expect((await acts.describeTools()).map((t) => t.name)).toEqual([
    'add',
    'boom',
    'retry_me',
    'send_email',
    'echo',
    'pay',
  ]);
  // Input side: a field with a default is optional for the model.
  expect((toolParameters(echo.input).required as string[] | undefined) ?? []).not.toContain('text');
});

test('tool names must be what model APIs accept, and each name is registered once', () => {
  expect(() => createTool({ name: 'bad name', description: '', input: z.object({}), run: () => 1 })).toThrow(
    /not valid/,
  );
  expect(() => createToolActivities([add, add])).toThrow(/registered twice/);
});

test('long outputs are cut so history stays small', () => {
  expect(observationText('x'.repeat(50), 10)).toBe(`${'x'.repeat(10)}\n[cut: 40 more characters]`);
  expect(observationText(undefined)).toBe('(no output)');
  expect(observationText(42)).toBe('42');
});
