import { InvalidRequestError, RunFailedError } from '../../src/client';
import { decodePayloads } from '../../src/codec';
import { chain } from '../../src/define';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { fakeEnv, startHarness, type Harness } from '../support/harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const rotated: ModelProfile = { ...profile, name: 'rotated', apiKeyEnv: 'TEST_ROTATED_API_KEY' };
const retry = { initialInterval: '100ms', maximumAttempts: 2 };
const id = (n: string) => `${n}-${Date.now()}-${Math.random().toString(36).slice(2, 7)}`;

let h: Harness;
// The operator allows TEST_ROTATED_API_KEY at the fake's endpoint; the first worker lacks its value.
const allowRotated = (url: string) => ({ BATON_ALLOWED_ENDPOINTS: `${url}=TEST_ROTATED_API_KEY` });
beforeAll(async () => {
  h = await startHarness({ env: (fake) => ({ ...fakeEnv(fake), ...allowRotated(fake.openaiBaseURL) }) });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

/** a -> b -> c, with d beside them; b uses `bProfile`. */
function graph(bProfile: ModelProfile): EnsembleDefinition {
  const def = chain('lineage', [
    { name: 'a', profile, prompt: 'step a {{input}}', retry },
    { name: 'b', profile: bProfile, prompt: 'step b {{a}}', retry },
    { name: 'c', profile, prompt: 'step c {{b}}', retry },
  ]);
  def.steps.push({ kind: 'agent', name: 'd', dependsOn: [], profile, prompt: 'step d {{input}}', retry });
  def.output = 'c';
  return def;
}

function scriptReplies() {
  h.fake.on('step a', { text: 'A' });
  h.fake.on('step b', { text: 'B' });
  h.fake.on('step c', { text: 'C' });
  h.fake.on('step d', { text: 'D' });
}

test('retry after the key was added to the worker environment reuses every completed step', async () => {
  scriptReplies();
  const runId = id('no-key');
  const err = await h.baton.run(graph(rotated), 'x', { runId }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RunFailedError);
  expect((err as RunFailedError).step).toBe('b');
  expect((err as RunFailedError).message).toMatch(
    /TEST_ROTATED_API_KEY is not set in the worker's environment/,
  );

  // The cause is fixed where it lives: a worker whose environment has the key.
  const fixed = await startHarness({
    env: { ...fakeEnv(h.fake), ...allowRotated(h.fake.openaiBaseURL), TEST_ROTATED_API_KEY: 'sk-rotated' },
  });
  try {
    const again = await fixed.baton.retry(runId);
    const result = await fixed.baton.result(again.runId);
    expect(result.output).toBe('C');
    expect(result.parent).toEqual({ runId, kind: 'retry' });
    expect(
      result.steps
        .filter((s) => s.reused)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['a', 'd']);
    // Proof by request counts: a and d were paid for once, in the failed run.
    expect(h.fake.count('step a')).toBe(1);
    expect(h.fake.count('step d')).toBe(1);
    expect(h.fake.count('step b')).toBe(1);
    expect(h.fake.count('step c')).toBe(1);
    // The new run counts only what it spent itself.
    expect(result.usage.inputTokens).toBe(
      result.steps.filter((s) => !s.reused).reduce((n, s) => n + s.usage.inputTokens, 0),
    );
  } finally {
    await fixed.close();
  }
});

test('retry with a corrected profile runs only the failed step and its dependents', async () => {
  scriptReplies();
  h.fake.on((r) => r.model === 'broken-model', {
    status: 404,
    message: 'The model broken-model does not exist',
  });
  const runId = id('bad-model');
  await expect(h.baton.run(graph({ ...profile, model: 'broken-model' }), 'x', { runId })).rejects.toThrow(
    /does not exist/,
  );
  expect(h.fake.count('step b')).toBe(1);

  const again = await h.baton.retry(runId, { definition: graph(profile) });
  const result = await h.baton.result(again.runId);
  expect(result.output).toBe('C');
  expect(h.fake.count('step a')).toBe(1);
  expect(h.fake.count('step b')).toBe(2);
  expect(h.fake.count('step c')).toBe(1);
  expect(h.fake.count('step d')).toBe(1);
});

test('fork from a step with a changed prompt reuses what is upstream and reruns what is downstream', async () => {
  scriptReplies();
  h.fake.on('step b, shorter', { text: 'B2' });
  const runId = id('fork-src');
  await h.baton.run(graph(profile), 'x', { runId });

  const fork = await h.baton.fork(runId, { fromStep: 'b', overrides: { prompt: 'step b, shorter {{a}}' } });
  const result = await h.baton.result(fork.runId);
  expect(result.steps.find((s) => s.name === 'b')?.output).toBe('B2');
  expect(result.parent).toEqual({ runId, kind: 'fork', fromStep: 'b' });
  expect(
    result.steps
      .filter((s) => s.reused)
      .map((s) => s.name)
      .sort(),
  ).toEqual(['a', 'd']);
  expect(h.fake.count('step a')).toBe(1);
  expect(h.fake.count('step d')).toBe(1);
  expect(h.fake.count('step c')).toBe(2);
  // c saw the fork's new b output.
  expect(h.fake.requests.filter((r) => r.allText.includes('step c')).map((r) => r.lastUserText)).toEqual([
    'step c B',
    'step c B2',
  ]);
});

test('fork with a new input and model reruns the forked step', async () => {
  scriptReplies();
  const runId = id('fork-input');
  await h.baton.run(graph(profile), 'x', { runId });
  const fork = await h.baton.fork(runId, {
    fromStep: 'a',
    input: 'y',
    overrides: { profile: { ...profile, model: 'gpt-other' } },
  });
  await h.baton.result(fork.runId);
  const forked = h.fake.requests.filter((r) => r.lastUserText === 'step a y');
  expect(forked.map((r) => r.model)).toEqual(['gpt-other']);
});

test('refusals say what is wrong before anything starts', async () => {
  scriptReplies();
  const runId = id('refuse');
  await h.baton.run(graph(profile), 'x', { runId });
  const before = h.fake.count();
  await expect(h.baton.retry(runId)).rejects.toThrow(InvalidRequestError);
  await expect(h.baton.retry(runId)).rejects.toThrow(/completed, so there is nothing to retry; fork it/);
  await expect(h.baton.fork(runId, { fromStep: 'zzz' })).rejects.toThrow(
    /has no step 'zzz'; its steps are: a, b, c, d/,
  );
  expect(h.fake.count()).toBe(before);
});

test('a long loop continues as new with its state, and no iteration is run twice', async () => {
  h.fake.on(/Iteration \d+/, (req) => ({ text: `draft ${/Iteration (\d+)/.exec(req.lastUserText)![1]}` }));
  h.fake.on('Judge', { text: '{"pass": false}' });
  const def: EnsembleDefinition = {
    name: 'long-loop',
    steps: [
      { kind: 'agent', name: 'seed', dependsOn: [], profile, prompt: 'seed {{input}}' },
      {
        kind: 'loop',
        name: 'refine',
        dependsOn: ['seed'],
        maxIterations: 8,
        until: { ref: 'critic.pass', op: 'truthy' },
        body: [
          {
            kind: 'agent',
            name: 'writer',
            dependsOn: [],
            profile,
            prompt: 'Iteration {{loop.iteration}} after {{loop.previous}}',
          },
          { kind: 'agent', name: 'critic', dependsOn: ['writer'], profile, prompt: 'Judge {{writer}}' },
        ],
      },
    ],
  };
  const runId = id('can');
  const result = await h.baton.run(def, 'x', { runId, options: { continueAsNewAfterEvents: 30 } });

  for (let i = 1; i <= 8; i++) expect(h.fake.count(`Iteration ${i} `)).toBe(1);
  expect(h.fake.count('seed')).toBe(1);
  expect(result.parent?.kind).toBe('continue-as-new');
  // Spending carries across continuations: 1 seed + 8 writers + 8 critics.
  expect(result.steps.find((s) => s.name === 'refine/writer')?.output).toBe('draft 8');
  const calls = h.fake.count();
  expect(calls).toBe(17);
  expect(result.usage.inputTokens).toBe(
    h.fake.requests.reduce((n, r) => n + Math.max(1, Math.ceil(r.allText.length / 4)), 0),
  );
  // The execution that finished is a continuation of an earlier one.
  const latest = await h.baton.handle(runId).fetchHistory();
  const startedEvent = latest.events?.[0]?.workflowExecutionStartedEventAttributes;
  expect(startedEvent?.continuedExecutionRunId).toBeTruthy();
  expect(startedEvent?.continuedExecutionRunId).toBe(result.parent?.runId);
});

test("Temporal's own reset to before the failed step re-runs it and keeps what came before", async () => {
  h.fake.on('step a', { text: 'A' });
  h.fake.on('step b', { status: 400, message: 'prompt too long' });
  h.fake.on('step c', { text: 'C' });
  h.fake.on('step d', { text: 'D' });
  const runId = id('reset');
  await expect(h.baton.run(graph(profile), 'x', { runId })).rejects.toThrow(/prompt too long/);

  // The operator fixes the cause, then resets to the workflow task that scheduled step b.
  h.fake.reset();
  h.fake.on('step b', { text: 'B' });
  h.fake.on('step c', { text: 'C' });
  const handle = h.baton.handle(runId);
  const events = (await handle.fetchHistory()).events ?? [];
  // Summaries are payloads: decrypt them first when the suite runs with BATON_CODEC_KEYS.
  const summaries = await Promise.all(
    events.map(async (e) =>
      e.userMetadata?.summary
        ? (await decodePayloads(h.baton.temporal.options.loadedDataConverter, [e.userMetadata.summary]))[0]
        : undefined,
    ),
  );
  const scheduledB = events.find(
    (e, i) =>
      e.activityTaskScheduledEventAttributes &&
      Buffer.from(summaries[i]?.data ?? [])
        .toString()
        .includes('"b"'),
  )!;
  const taskCompleted = scheduledB.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId!;
  const started = await handle.describe();
  await h.baton.temporal.workflowService.resetWorkflowExecution({
    namespace: h.namespace,
    workflowExecution: { workflowId: runId, runId: started.runId },
    // The WorkflowTaskCompleted event just before step b was scheduled ends the kept part of history.
    workflowTaskFinishEventId: taskCompleted,
    requestId: `reset-${runId}`,
    reason: 'test: cause fixed',
  });

  const result = await h.baton.result(runId);
  expect(result.output).toBe('C');
  // Step a ran before the reset point and was not called again.
  expect(h.fake.count('step a')).toBe(0);
  expect(h.fake.count('step b')).toBe(1);
});

test('retry reuses whole outputs even where the failed run kept only previews', async () => {
  h.fake.on('big a', { text: 'a'.repeat(300_000) });
  h.fake.on('big b', { text: 'b'.repeat(300_000) });
  // Newest rule first: the one-time fault, then the answer.
  h.fake.on('join', { text: 'JOINED' });
  h.fake.on('join', { status: 400, message: 'not yet' }, { times: 1 });
  const def: EnsembleDefinition = {
    name: 'big-retry',
    steps: [
      { kind: 'agent', name: 'a', dependsOn: [], profile, prompt: 'big a' },
      { kind: 'agent', name: 'b', dependsOn: [], profile, prompt: 'big b' },
      { kind: 'agent', name: 'c', dependsOn: ['a', 'b'], profile, prompt: 'join {{a}}{{b}}' },
    ],
  };
  const runId = id('big-retry');
  const err = (await h.baton.run(def, 'x', { runId }).catch((e: unknown) => e)) as RunFailedError;
  if (!err.progress) throw err;
  expect(err.progress.steps.some((s) => s.truncated)).toBe(true);

  const again = await h.baton.retry(runId);
  await h.baton.result(again.runId);
  const joins = h.fake.requests.filter((r) => r.lastUserText.startsWith('join '));
  expect(joins).toHaveLength(2);
  expect(joins[1]!.lastUserText).toHaveLength('join '.length + 600_000);
  expect(h.fake.count('big a')).toBe(1);
});
