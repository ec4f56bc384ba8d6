/**
 * Readable activity summaries (docs/observability.md): a model call run as a local activity carries
 * its step's name as summary, as activities do; the summary is user metadata, so histories recorded
 * without it still replay.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import type { temporal } from '@temporalio/proto';
import { chain } from '../../src/define';
import { fetchRunHistory, replayHistory } from '../../src/replay';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, workflowBundle, type Harness } from '../support/harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const echo = createTool({
  name: 'echo',
  description: 'Say it back.',
  input: z.object({ text: z.string() }),
  run: ({ text }) => text,
});
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ tools: [echo] });
});
afterAll(async () => {
  await h?.close();
});

type Event = temporal.api.history.v1.IHistoryEvent;
const summaryOf = (e: Event): string | undefined => {
  const p = e.userMetadata?.summary;
  return p ? (defaultPayloadConverter.fromPayload(p as never) as string) : undefined;
};

test('a local activity carries its step as summary, and a history without it replays', async () => {
  h.fake.on('Summed', { text: 'S1' });
  const def = chain('summaries-local', [{ name: 'only', profile, prompt: 'Summed {{input}}' }]);
  const runId = `summaries-local-${Date.now()}`;
  const result = await h.baton.run(def, 'x', { runId, options: { localActivities: true } });
  expect(result.status).toBe('completed');
  const history = await fetchRunHistory(h.baton.temporal, runId);
  const markers = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes);
  expect(markers.map(summaryOf)).toContain('only');
  // As recorded before summaries: no user metadata anywhere. The current code replays it.
  for (const e of history.events ?? []) delete (e as { userMetadata?: unknown }).userMetadata;
  const report = await replayHistory(history, runId, { workflowBundle: await workflowBundle() });
  expect(report).toMatchObject({ ok: true });
});

test('activities carry their step as summary; fan-out instances their instance (review[1])', async () => {
  h.fake.on('List to review', { text: JSON.stringify(['a', 'b', 'c']) });
  h.fake.on('Review', { text: 'R' });
  const def: EnsembleDefinition = {
    name: 'summaries-fan-out',
    steps: [
      { kind: 'agent', name: 'list', dependsOn: [], profile, prompt: 'List to review {{input}}' },
      {
        kind: 'agent',
        name: 'review',
        dependsOn: ['list'],
        profile,
        prompt: 'Review {{item}}',
        fanOut: { from: 'list' },
      },
    ],
  };
  const runId = `summaries-fan-${Date.now()}`;
  const result = await h.baton.run(def, 'x', { runId });
  expect(result.status).toBe('completed');
  const history = await fetchRunHistory(h.baton.temporal, runId);
  const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
  expect(scheduled.map(summaryOf).sort()).toEqual(['list', 'review[0]', 'review[1]', 'review[2]']);
  // As recorded before instance summaries: every instance summarised `review`. The current code replays it.
  for (const e of scheduled) {
    const name = summaryOf(e);
    if (name?.startsWith('review['))
      e.userMetadata!.summary = defaultPayloadConverter.toPayload('review') as never;
  }
  const report = await replayHistory(history, runId, { workflowBundle: await workflowBundle() });
  expect(report).toMatchObject({ ok: true });
});

test('a fan-out of a tool-using agent: its model and tool calls carry the instance (check[1], check[1]: echo)', async () => {
  h.fake.on('Items to check', { text: JSON.stringify(['a', 'b']) });
  // Each instance: one reply asking for the tool, then its answer.
  h.fake.on('Check', { text: 'checked' });
  for (const item of ['a', 'b'])
    h.fake.on(`Check ${item}`, { toolCalls: [{ name: 'echo', arguments: { text: item } }] }, { times: 1 });
  const def: EnsembleDefinition = {
    name: 'summaries-tool-fan-out',
    steps: [
      { kind: 'agent', name: 'items', dependsOn: [], profile, prompt: 'Items to check {{input}}' },
      {
        kind: 'agent',
        name: 'check',
        dependsOn: ['items'],
        profile,
        prompt: 'Check {{item}}',
        tools: [{ name: 'echo' }],
        maxIterations: 3,
        fanOut: { from: 'items', maxConcurrency: 1 },
      },
    ],
  };
  const runId = `summaries-tool-fan-${Date.now()}`;
  const result = await h.baton.run(def, 'x', { runId });
  expect(result.status).toBe('completed');
  const history = await fetchRunHistory(h.baton.temporal, runId);
  const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
  expect(scheduled.map(summaryOf).sort()).toEqual([
    'check[0]',
    'check[0]',
    'check[0]: echo',
    'check[1]',
    'check[1]',
    'check[1]: echo',
    'items',
  ]);
});
