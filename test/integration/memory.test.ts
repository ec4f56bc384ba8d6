import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { createMemoryActivities, localEmbedding } from '../../src/activities/memory';
import { LanceMemoryStore } from '../../src/activities/memory-lance';
import { RunFailedError } from '../../src/client';
import type { AgentStep, EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, workflowBundle, type Harness } from '../support/harness';

const chat: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const embedding: ModelProfile = { name: 'emb', provider: 'openai', model: 'text-embedding-test' };
const offline: ModelProfile = { name: 'offline', provider: 'offline', model: 'offline' };

let h: Harness;
let store: LanceMemoryStore;
beforeAll(async () => {
  store = new LanceMemoryStore(mkdtempSync(join(tmpdir(), 'baton-memory-')));
  h = await startHarness({
    memoryStore: store,
    tools: [
      createTool({
        name: 'read',
        description: 'Read a page of the book.',
        input: z.object({ page: z.number() }),
        run: ({ page }) => `page ${page}: ${'x'.repeat(800)}`,
      }),
    ],
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const uniq = () => `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

function one(step: Partial<AgentStep>): EnsembleDefinition {
  return {
    name: 'memory',
    steps: [{ kind: 'agent', name: 'answer', dependsOn: [], profile: chat, prompt: '{{input}}', ...step }],
  };
}

test('a step remembers its output; a later run recalls it by meaning and the model sees it', async () => {
  const ns = `support-${uniq()}`;
  h.fake.on('Note:', (req) => ({ text: req.lastUserText.replace('Note: ', '') }));
  const remember = one({ prompt: 'Note: {{input}}', remember: { namespace: ns, embedding } });
  await h.baton.run(remember, 'Ada prefers email over phone calls', { runId: `m-${uniq()}` });
  await h.baton.run(remember, 'The warehouse closes at six', { runId: `m-${uniq()}` });
  expect(h.fake.embeddingRequests.map((r) => r.input)).toEqual([
    ['Ada prefers email over phone calls'],
    ['The warehouse closes at six'],
  ]);
  expect(h.fake.embeddingRequests[0]!.model).toBe('text-embedding-test');

  const ask = one({ recall: { query: '{{input}}', topK: 1, namespace: ns, embedding }, system: 'Be brief.' });
  const runId = `m-${uniq()}`;
  await h.baton.run(ask, 'how does Ada prefer contact: email or phone?', { runId });
  const seen = h.fake.requests[h.fake.requests.length - 1]!;
  expect(seen.system).toContain('Be brief.');
  expect(seen.system).toContain(
    'Relevant memories (most relevant first):\n- Ada prefers email over phone calls',
  );
  expect(seen.system).not.toContain('warehouse');

  // The recall's result is in the run's history (an activity result): a replay sees those
  // memories even after the store forgot them.
  await h.baton.forgetMemories({ namespace: ns });
  const history = await h.baton.handle(runId).fetchHistory();
  const types = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
  expect(types.filter(Boolean)).toEqual(['recallMemories', 'callModel']);
  // The Temporal UI names the activity after its step.
  const recallEvent = (history.events ?? []).find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recallMemories',
  )!;
  expect(Buffer.from(recallEvent.userMetadata!.summary!.data!).toString()).toBe('"answer recall"');
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, runId);
});

test('scopes: user and thread narrow a recall; forgetting by user deletes only that user', async () => {
  const ns = `scoped-${uniq()}`;
  h.fake.on('Note:', (req) => ({ text: req.lastUserText.replace('Note: ', '') }));
  const note = one({ prompt: 'Note: {{input}}', remember: { namespace: ns, embedding: offline } });
  const as = (user: string, thread: string) => ({
    runId: `m-${uniq()}`,
    options: { memory: { user, thread } },
  });
  await h.baton.run(note, 'alice likes tea', as('alice', 't1'));
  await h.baton.run(note, 'alice likes green tea in the morning', as('alice', 't2'));
  await h.baton.run(note, 'bob likes tea too', as('bob', 't3'));
  // The offline provider embeds locally: no embeddings request.
  expect(h.fake.embeddingRequests).toHaveLength(0);

  const recall = (scope: 'namespace' | 'user' | 'thread') =>
    one({ recall: { query: 'what does she like? tea', topK: 5, namespace: ns, scope, embedding: offline } });
  const systemOf = async (scope: 'namespace' | 'user' | 'thread') => {
    await h.baton.run(recall(scope), 'q', as('alice', 't1'));
    return h.fake.requests[h.fake.requests.length - 1]!.system;
  };
  expect(await systemOf('namespace')).toMatch(/bob likes tea too/);
  const user = await systemOf('user');
  expect(user).toMatch(/alice likes tea/);
  expect(user).toMatch(/green tea/);
  expect(user).not.toMatch(/bob/);
  const thread = await systemOf('thread');
  expect(thread).toMatch(/alice likes tea/);
  expect(thread).not.toMatch(/green tea/);

  expect(await h.baton.forgetMemories({ namespace: ns, user: 'alice' })).toEqual({ deleted: 2 });
  const after = await systemOf('namespace');
  expect(after).toMatch(/bob likes tea too/);
  expect(after).not.toMatch(/alice/);
  expect(await h.baton.forgetMemories({ namespace: ns })).toEqual({ deleted: 1 });
  // Nothing left: the step runs without a memories block.
  await h.baton.run(recall('namespace'), 'q', as('alice', 't1'));
  expect(h.fake.requests[h.fake.requests.length - 1]!.system).toBe('');
});

test('a recall at user scope in a run without a user fails the step, naming what to set', async () => {
  const def = one({
    recall: { query: '{{input}}', topK: 1, namespace: 'x', scope: 'user', embedding: offline },
  });
  const err = await h.baton.run(def, 'q', { runId: `m-${uniq()}` }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RunFailedError);
  expect((err as Error).message).toMatch(
    /recall at scope 'user' needs the run's user: start the run with options\.memory\.user/,
  );
  expect(h.fake.requests).toHaveLength(0);
});

test('an embeddings error is a step failure in plain words, not retried when it cannot be fixed by retrying', async () => {
  h.fake.embeddingFault = { status: 401, message: 'invalid api key (fake)' };
  const def = one({ remember: { namespace: `e-${uniq()}`, embedding } });
  const err = await h.baton.run(def, 'hello', { runId: `m-${uniq()}` }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RunFailedError);
  expect((err as Error).message).toMatch(/embeddings \(emb\)/);
  expect(h.fake.embeddingRequests).toHaveLength(1);
});

test('forgetMemories refuses a scope without a namespace', async () => {
  await expect(h.baton.forgetMemories({ namespace: '' })).rejects.toThrow(/needs a namespace/);
});

test('embeddings go only where the worker allows, and never to anthropic', async () => {
  const elsewhere: ModelProfile = {
    ...embedding,
    name: 'far',
    provider: 'openai-compatible',
    baseURL: 'http://127.0.0.1:9/v1',
  };
  const err1 = await h.baton
    .run(one({ remember: { namespace: 'n', embedding: elsewhere } }), 'x', { runId: `m-${uniq()}` })
    .catch((e: unknown) => e);
  expect((err1 as Error).message).toMatch(/an endpoint this worker does not call .*nothing was sent/);
  const anthropic: ModelProfile = { name: 'an', provider: 'anthropic', model: 'claude' };
  const err2 = await h.baton
    .run(one({ remember: { namespace: 'n', embedding: anthropic } }), 'x', { runId: `m-${uniq()}` })
    .catch((e: unknown) => e);
  expect((err2 as Error).message).toMatch(/anthropic, which has no embeddings API/);
  expect(h.fake.embeddingRequests).toHaveLength(0);
});

test('BATON_MEMORY_DIR chooses the LanceDB store directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-memory-env-'));
  const acts = createMemoryActivities({ env: { BATON_MEMORY_DIR: dir } });
  await acts.rememberMemory({ scope: { namespace: 'env' }, text: 'kept here', embedding: offline });
  const found = await new LanceMemoryStore(dir).search({ namespace: 'env' }, localEmbedding('kept'), 1);
  expect(found.map((m) => m.text)).toEqual(['kept here']);
  expect(
    (
      await acts.recallMemories({
        scope: { namespace: 'env' },
        level: 'namespace',
        query: 'kept',
        topK: 1,
        embedding: offline,
      })
    ).memories[0]!.text,
  ).toBe('kept here');
});

describe('short-term memory', () => {
  test('a tool agent past max_context_tokens summarizes older turns with a counted model call', async () => {
    // Each observation is about 200 tokens (the `read` tool returns 800 characters).
    // Four pages, one per turn, then the answer.
    h.fake.on('Read the book', (_req, n) =>
      n >= 4 ? { text: 'done reading' } : { toolCalls: [{ name: 'read', arguments: { page: n + 1 } }] },
    );
    // Newer rules are tried first: the summary request also holds 'Read the book'.
    h.fake.on(
      (req) => req.lastUserText.startsWith('Summarize the conversation above'),
      () => ({ text: 'SUMMARY: pages 1 and 2 were read', usage: { input: 500, output: 10 } }),
    );
    const def = one({
      prompt: 'Read the book',
      tools: [{ name: 'read' }],
      // Five calls: four reads and the answer; summary calls do not count against this.
      maxIterations: 5,
      memory: { maxContextTokens: 450, keepRecent: 2 },
    });
    const result = await h.baton.run(def, 'x', { runId: `m-${uniq()}` });
    expect(result.output).toBe('done reading');
    const summaries = h.fake.requests.filter((r) =>
      r.lastUserText.startsWith('Summarize the conversation above'),
    );
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    // After a summary, the next call carries it instead of the older turns, and stays within budget.
    const after = h.fake.requests[h.fake.requests.indexOf(summaries[0]!) + 1]!;
    expect(after.allText).toContain('Summary of the earlier turns of this conversation');
    expect(after.allText).toContain('SUMMARY: pages 1 and 2 were read');
    expect(after.messages.filter((m) => m.role === 'tool').length).toBeLessThan(2);
    // The summary call is counted: in the step's calls and usage.
    const step = result.steps[0]!;
    expect(step.calls).toBe(h.fake.requests.length);
    expect(step.usage.inputTokens).toBeGreaterThanOrEqual(500 * summaries.length);
  });
});
