/**
 * Runs started without Baton's client (a plain @temporalio/client start, as `temporal workflow
 * start` does): malformed input fails the run at once, non-retryably, as InvalidDefinition with a
 * message naming the field, instead of failing its workflow task forever. Well-formed input runs.
 */
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
let client: Client;
beforeAll(async () => {
  h = await startHarness();
  client = new Client({ connection: h.connection, namespace: h.namespace });
});
afterAll(async () => h?.close());

const definition = {
  name: 'plain',
  steps: [
    {
      kind: 'agent',
      name: 'a',
      dependsOn: [],
      profile: { name: 'offline', provider: 'offline', model: 'baton-offline-1' },
      prompt: '{{input}}',
    },
  ],
};

async function failure(args: unknown[]): Promise<{ failure: ApplicationFailure; taskFailures: number }> {
  const handle = await client.workflow.start('batonRun', {
    taskQueue: h.taskQueue,
    workflowId: `plain-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    args,
  });
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const history = await handle.fetchHistory();
  const taskFailures = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).length;
  return { failure: cause as ApplicationFailure, taskFailures };
}

test.each([
  [
    'the definition without the { definition, input } wrapper',
    [definition],
    /definition: missing: expected the resolved ensemble \{ name, steps \}/,
  ],
  ['no input at all', [], /expected the run input \{ definition, input \}/],
  [
    'an input that is not a string',
    [{ definition, input: 42 }],
    /input: expected the run input \(a string\)/,
  ],
  [
    'a step with an unknown provider',
    [
      {
        definition: {
          ...definition,
          steps: [{ ...definition.steps[0], profile: { name: 'p', provider: 'evil', model: 'm' } }],
        },
        input: 'x',
      },
    ],
    /definition\.steps\[0\]\.profile\.provider/,
  ],
  [
    'a bad duration in the options',
    [{ definition, input: 'x', options: { heartbeatTimeout: 'banana' } }],
    /options\.heartbeatTimeout: expected a duration/,
  ],
])('%s fails the run at once as InvalidDefinition naming the field', async (_what, args, message) => {
  const { failure: f, taskFailures } = await failure(args);
  expect(f.type).toBe('InvalidDefinition');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toMatch(message);
  expect(taskFailures).toBe(0);
});

test('the input format documented in docs/operations.md runs', async () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
  const example = /<!-- run-input-example[^>]*-->\s*```json\n([\s\S]*?)```/.exec(doc)![1]!;
  const handle = await client.workflow.start('batonRun', {
    taskQueue: h.taskQueue,
    workflowId: `plain-ok-${Date.now()}`,
    args: [JSON.parse(example)],
  });
  const result = (await handle.result()) as { status: string; output: string };
  expect(result.status).toBe('completed');
  expect(result.output).toContain('the operators');
});
