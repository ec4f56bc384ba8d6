/**
 * Long agents and big payloads: large values go to the payload store and history holds their
 * reference; a ReAct agent's conversation is kept by reference, not re-sent in every call.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { dataConverterFromEnv } from '../../src/codec';
import { REF_ENCODING } from '../../src/payloads';
import { fetchRunHistory, replayHistory } from '../../src/replay';
import type { EnsembleDefinition, ModelProfile } from '../../src/types';
import { startHarness, workflowBundle, type Harness } from '../support/harness';

const openai: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
const TURNS = 300;
const OBSERVATION = 20 * 1024;
/** The bounds this file asserts (and docs/operations.md states) for a 300-turn agent. */
const MAX_EVENTS = 4_000;
const MAX_HISTORY_BYTES = 3 * 1024 * 1024;

// Every run of this file writes to a store of its own, so the tests see only their own bodies.
const storeDir = mkdtempSync(join(tmpdir(), 'baton-payloads-'));
const storeEnv = { BATON_PAYLOAD_STORE: `file://${storeDir}` };

let toolCalls = 0;
const observe = createTool({
  name: 'observe',
  description: 'Read page n of a long document.',
  input: z.object({ n: z.number() }),
  // Observations are cut at 16,000 characters by default; these are 20 KB whole.
  maxOutputChars: 32_000,
  run: ({ n }) => {
    toolCalls++;
    return `page ${n}: ` + 'x'.repeat(OBSERVATION);
  },
});

let h: Harness;
const previousStore = process.env.BATON_PAYLOAD_STORE;
beforeAll(async () => {
  // The client (and replay below) read the store setting from this process's environment.
  process.env.BATON_PAYLOAD_STORE = storeEnv.BATON_PAYLOAD_STORE;
  h = await startHarness({ tools: [observe], env: (fake) => ({ ...fakeEnvOf(fake), ...storeEnv }) });
});
afterAll(async () => {
  await h?.close();
  if (previousStore === undefined) delete process.env.BATON_PAYLOAD_STORE;
  else process.env.BATON_PAYLOAD_STORE = previousStore;
});

function fakeEnvOf(fake: Harness['fake']): NodeJS.ProcessEnv {
  return {
    OPENAI_API_KEY: 'sk-test-openai',
    OPENAI_BASE_URL: fake.openaiBaseURL,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    ANTHROPIC_BASE_URL: fake.anthropicBaseURL,
  };
}

/** Size of a history as the server holds it: every event's payload bytes. */
function historyBytes(history: Awaited<ReturnType<typeof fetchRunHistory>>): number {
  return Buffer.byteLength(JSON.stringify(history));
}

function refsIn(history: Awaited<ReturnType<typeof fetchRunHistory>>): number {
  return JSON.stringify(history).split(Buffer.from(REF_ENCODING).toString('base64')).length - 1;
}

test(`a ReAct agent of ${TURNS} tool turns with 20 KB observations completes with bounded history, and replays`, async () => {
  toolCalls = 0;
  const marker = `long-${Date.now()}`;
  let lastMessages = 0;
  h.fake.on(marker, (req) => {
    const done = req.messages.filter((m) => m.role === 'tool').length;
    lastMessages = req.messages.length;
    return done >= TURNS
      ? { text: `read ${done} pages` }
      : { toolCalls: [{ name: 'observe', arguments: { n: done + 1 } }] };
  });
  const def: EnsembleDefinition = {
    name: 'long-agent',
    steps: [
      {
        kind: 'agent',
        name: 'reader',
        dependsOn: [],
        profile: openai,
        prompt: `${marker}: read every page`,
        tools: [{ name: 'observe' }],
        maxIterations: TURNS + 1,
      },
    ],
  };
  const { runId } = await h.baton.start(def, 'go', { runId: `long-agent-${Date.now()}` });
  const result = await h.baton.result(runId);
  expect(result.output).toBe(`read ${TURNS} pages`);
  expect(toolCalls).toBe(TURNS);
  // The model saw the whole conversation each time: system/user prompt + TURNS assistant/tool pairs.
  expect(lastMessages).toBeGreaterThanOrEqual(1 + 2 * TURNS);

  const history = await fetchRunHistory(h.baton.temporal, runId);
  const events = history.events?.length ?? 0;
  expect(events).toBeLessThan(MAX_EVENTS);
  expect(historyBytes(history)).toBeLessThan(MAX_HISTORY_BYTES);
  expect(refsIn(history)).toBeGreaterThanOrEqual(2 * TURNS);
  console.log(`payload-store: ${TURNS} turns -> ${events} events, ${historyBytes(history)} bytes of history`);

  const report = await replayHistory(history, runId, { workflowBundle: await workflowBundle() });
  expect(report).toMatchObject({ ok: true });
}, 600_000);

test('a step whose output is 10 MB completes; its output is readable through the client and progress; replay and fork work', async () => {
  const big = 'y'.repeat(10 * 1024 * 1024);
  const marker = `big-${Date.now()}`;
  h.fake.on(marker, { text: big });
  h.fake.on(`after-${marker}`, { text: 'after' });
  const def: EnsembleDefinition = {
    name: 'big-output',
    steps: [
      { kind: 'agent', name: 'big', dependsOn: [], profile: openai, prompt: `${marker} {{input}}` },
      { kind: 'agent', name: 'after', dependsOn: ['big'], profile: openai, prompt: `after-${marker}` },
    ],
    output: 'big',
  };
  const { runId } = await h.baton.start(def, 'go', { runId: `big-output-${Date.now()}` });
  const result = await h.baton.result(runId);
  expect(result.output.length).toBe(big.length);
  // Progress shows the first characters of an output; the whole is a query away.
  expect(result.steps.find((s) => s.name === 'big')?.truncated?.chars).toBe(big.length);
  expect((await h.baton.stepOutput(runId, 'big')) === big).toBe(true);
  expect((await h.baton.progress(runId)).status).toBe('completed');

  const history = await fetchRunHistory(h.baton.temporal, runId);
  expect(historyBytes(history)).toBeLessThan(256 * 1024);
  expect(readdirSync(storeDir).length).toBeGreaterThan(0);
  expect(await replayHistory(history, runId, { workflowBundle: await workflowBundle() })).toMatchObject({
    ok: true,
  });

  // Fork from the last step: the 10 MB output is reused from the stored run, not asked for again.
  const before = h.fake.requests.length;
  const forked = await h.baton.fork(runId, { fromStep: 'after', runId: `big-fork-${Date.now()}` });
  const forkResult = await h.baton.result(forked.runId);
  expect(forkResult.output === big).toBe(true);
  const again = h.fake.requests.slice(before).map((r) => r.allText.includes(`after-${marker}`));
  expect(again).toEqual([true]);
}, 600_000);

test("a model request of 3 MB (over Temporal's 2 MB payload limit) is sent whole; history holds its reference", async () => {
  const input = 'w'.repeat(3 * 1024 * 1024);
  const marker = `wide-${Date.now()}`;
  let seen = 0;
  h.fake.on(marker, (req) => {
    seen = req.allText.length;
    return { text: 'read it' };
  });
  const def: EnsembleDefinition = {
    name: 'big-request',
    steps: [{ kind: 'agent', name: 'read', dependsOn: [], profile: openai, prompt: `${marker} {{input}}` }],
  };
  const { runId } = await h.baton.start(def, input, { runId: `big-request-${Date.now()}` });
  expect((await h.baton.result(runId)).output).toBe('read it');
  expect(seen).toBeGreaterThanOrEqual(input.length);
  expect(historyBytes(await fetchRunHistory(h.baton.temporal, runId))).toBeLessThan(256 * 1024);
}, 600_000);

test('a retry of a failed run with a 10 MB output reuses it and completes', async () => {
  const big = 'z'.repeat(10 * 1024 * 1024);
  const marker = `retry-${Date.now()}`;
  h.fake.on(marker, { text: big });
  h.fake.on(`then-${marker}`, { text: 'fine' });
  h.fake.on(`then-${marker}`, { status: 400, message: 'bad request' }, { times: 1 });
  const def: EnsembleDefinition = {
    name: 'big-retry',
    steps: [
      { kind: 'agent', name: 'big', dependsOn: [], profile: openai, prompt: `${marker} {{input}}` },
      { kind: 'agent', name: 'then', dependsOn: ['big'], profile: openai, prompt: `then-${marker}` },
    ],
  };
  const { runId } = await h.baton.start(def, 'go', { runId: `big-retry-${Date.now()}` });
  await expect(h.baton.result(runId)).rejects.toThrow();
  const retried = await h.baton.retry(runId, { runId: `big-retried-${Date.now()}` });
  const result = await h.baton.result(retried.runId);
  expect(result.output).toBe('fine');
  expect((await h.baton.stepOutput(retried.runId, 'big')) === big).toBe(true);
}, 600_000);

test('with codec keys, stored bodies are ciphertext', async () => {
  const { randomBytes } = await import('node:crypto');
  const { readFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'baton-payloads-enc-'));
  const dc = dataConverterFromEnv({
    BATON_CODEC_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    BATON_PAYLOAD_STORE: `file://${dir}`,
  })!;
  const secret = 'SECRET-'.repeat(10_000);
  const [ref] = await dc.payloadCodecs![1]!.encode(
    await dc.payloadCodecs![0]!.encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(secret)) },
    ]),
  );
  const stored = JSON.parse(Buffer.from(ref!.data!).toString()) as { $ref: string };
  const body = readFileSync(join(dir, stored.$ref)).toString('latin1');
  expect(body).not.toContain('SECRET-');
  const back = await dc.payloadCodecs![0]!.decode(await dc.payloadCodecs![1]!.decode([ref!]));
  expect(JSON.parse(Buffer.from(back[0]!.data!).toString())).toBe(secret);
});
