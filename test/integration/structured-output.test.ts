import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { RunFailedError } from '../../src/client';
import { loadEnsembleText } from '../../src/config';
import type { FakeRequest } from '../support/fake-model-server';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    tools: [
      createTool({
        name: 'lookup',
        description: 'Look something up.',
        input: z.object({ q: z.string() }),
        run: () => 'it is about speed',
      }),
    ],
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.fake.reset());

const tag = () => Math.random().toString(36).slice(2, 8);
const id = (n: string) => `${n}-${Date.now()}-${Math.random().toString(36).slice(2, 7)}`;
const usage = { input: 10, output: 5 };

/** triage (enum schema) -> act, which reads triage's JSON. */
function ensemble(t: string, extra: { profile?: string; repairs?: number; schema?: string } = {}) {
  const schema =
    extra.schema ??
    [
      '      type: object',
      '      properties:',
      '        kind: { type: string, enum: [fix, feature] }',
      '        summary: { type: string }',
      '      required: [kind, summary]',
    ].join('\n');
  return loadEnsembleText(
    [
      `name: structured-${t}`,
      'profiles:',
      '  oa: { provider: openai, model: gpt-test }',
      '  an: { provider: anthropic, model: claude-test }',
      `default_profile: ${extra.profile ?? 'oa'}`,
      'agents:',
      '  - name: triage',
      `    prompt: "classify ${t} {{input}}"`,
      ...(extra.repairs !== undefined ? [`    output_repairs: ${extra.repairs}`] : []),
      '    output_schema:',
      schema,
      '  - name: act',
      '    depends_on: [triage]',
      `    prompt: "act ${t} on {{triage}}"`,
    ].join('\n'),
    'structured.yaml',
  );
}

const triage = (t: string) => (r: FakeRequest) => r.allText.includes(`classify ${t}`);
const act = (t: string) => (r: FakeRequest) => r.allText.includes(`act ${t}`);
const BAD = JSON.stringify({ kind: 'improvement', summary: 'speed it up' });
const GOOD = JSON.stringify({ kind: 'feature', summary: 'speed it up' });

test('a reply outside the enum is asked for again with the errors; the step completes after 1 repair and usage counts both calls', async () => {
  const t = tag();
  // The second reply is fenced, as models do: the step's output is the JSON itself.
  h.fake.on(triage(t), (_req, n) => ({ text: n === 0 ? BAD : `\`\`\`json\n${GOOD}\n\`\`\``, usage }));
  h.fake.on(act(t), { text: 'DONE', usage });
  const result = await h.baton.run(ensemble(t), 'the app is slow', { runId: id('repair') });

  expect(result.output).toBe('DONE');
  expect(h.fake.count(triage(t))).toBe(2);
  const step = result.steps.find((s) => s.name === 'triage')!;
  expect(step).toMatchObject({ status: 'completed', output: GOOD, calls: 2 });
  expect(step.usage).toMatchObject({ inputTokens: 20, outputTokens: 10 });
  expect(result.usage).toMatchObject({ inputTokens: 30, outputTokens: 15 });
  // The repair shows the model its reply and what is wrong with it.
  const repair = h.fake.requests.filter(triage(t))[1]!;
  expect(repair.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
  expect(repair.messages[1]!.content).toBe(BAD);
  expect(repair.lastUserText).toContain('- kind: must be one of "fix", "feature"');
  // Downstream saw only the valid output.
  expect(h.fake.requests.find(act(t))!.lastUserText).toContain(GOOD);
});

test('three unfit replies fail the step with StructuredOutputError (step, path, reply start); retry runs the step again instead of reusing it', async () => {
  const t = tag();
  h.fake.on(triage(t), { text: BAD });
  h.fake.on(act(t), { text: 'DONE' });
  const runId = id('unfit');
  const err = await h.baton.run(ensemble(t), 'the app is slow', { runId }).catch((e: unknown) => e);

  expect(err).toBeInstanceOf(RunFailedError);
  const failure = err as RunFailedError;
  expect(failure.step).toBe('triage');
  expect(failure.progress?.error?.type).toBe('StructuredOutputError');
  expect(failure.message).toContain("step 'triage'");
  expect(failure.message).toContain('at \'kind\': must be one of "fix", "feature"');
  expect(failure.message).toContain('3 replies refused (2 repairs)');
  expect(failure.message).toContain('The last reply began: "{\\"kind\\":\\"improvement\\"');
  expect(h.fake.count(triage(t))).toBe(3);
  expect(h.fake.count(act(t))).toBe(0);
  const step = failure.progress!.steps.find((s) => s.name === 'triage')!;
  expect(step).toMatchObject({ status: 'failed', calls: 3 });
  expect(step.output).toBeUndefined();

  // The model behaves now: the retry calls triage again (its unfit reply is no output to reuse).
  h.fake.on(triage(t), { text: GOOD });
  const again = await h.baton.retry(runId);
  const result = await h.baton.result(again.runId);
  expect(result.output).toBe('DONE');
  expect(result.steps.find((s) => s.name === 'triage')).toMatchObject({ output: GOOD });
  expect(result.steps.filter((s) => s.reused)).toEqual([]);
  expect(h.fake.count(triage(t))).toBe(4);
});

test('output_repairs: 0 fails at the first unfit reply', async () => {
  const t = tag();
  h.fake.on(triage(t), { text: '{"kind":"fix"}' });
  const err = await h.baton
    .run(ensemble(t, { repairs: 0 }), 'x', { runId: id('no-repairs') })
    .catch((e: unknown) => e);
  expect((err as RunFailedError).progress?.error?.type).toBe('StructuredOutputError');
  expect((err as RunFailedError).message).toContain("at 'summary': is required but missing");
  expect(h.fake.count(triage(t))).toBe(1);
});

test('Anthropic (forced tool): a prose reply is repaired into the structured answer', async () => {
  const t = tag();
  h.fake.on(triage(t), (_req, n) => ({ text: n === 0 ? 'It is a feature request.' : GOOD }));
  h.fake.on(act(t), { text: 'DONE' });
  const result = await h.baton.run(ensemble(t, { profile: 'an' }), 'x', { runId: id('anthropic') });
  expect(result.output).toBe('DONE');
  expect(result.steps.find((s) => s.name === 'triage')).toMatchObject({ output: GOOD, calls: 2 });
  const [first, repair] = h.fake.requests.filter(triage(t));
  expect(first!.api).toBe('anthropic');
  expect(repair!.body.tool_choice).toEqual({ type: 'tool', name: 'output' });
  expect(repair!.lastUserText).toContain('- (root): the reply is not JSON');
});

test('OpenAI gets strict: true for a schema that qualifies, strict: false for one that does not', async () => {
  const t = tag();
  const strictSchema = [
    '      type: object',
    '      properties:',
    '        kind: { type: string, enum: [fix, feature] }',
    '        summary: { type: string }',
    '      required: [kind, summary]',
    '      additionalProperties: false',
  ].join('\n');
  h.fake.on(triage(t), { text: GOOD });
  await h.baton.run(ensemble(t, { schema: strictSchema }), 'x', { runId: id('strict') });
  const u = tag();
  h.fake.on(triage(u), { text: GOOD });
  await h.baton.run(ensemble(u), 'x', { runId: id('not-strict') });

  const sent = (x: string) => h.fake.requests.find(triage(x))!.body.response_format;
  expect(sent(t)).toMatchObject({ type: 'json_schema', json_schema: { name: 'output', strict: true } });
  // `summary` optional-free but additionalProperties unset: outside OpenAI's strict subset.
  expect(sent(u)).toMatchObject({ type: 'json_schema', json_schema: { name: 'output', strict: false } });
});

test('a bad output_schema or output_repairs is refused when the ensemble loads', () => {
  const t = tag();
  expect(() =>
    ensemble(t, { schema: '      type: object\n      properties: { a: { type: strang } }' }),
  ).toThrow(/output_schema is not a valid JSON Schema/);
  expect(() =>
    loadEnsembleText(
      'name: x\nprofiles:\n  oa: { provider: openai, model: m }\ndefault_profile: oa\nagents:\n  - name: a\n    prompt: p\n    output_repairs: 1\n',
      'x.yaml',
    ),
  ).toThrow(/output_repairs .*set output_schema too/);
});

test('a tool agent with output_schema: its final JSON answer is repaired the same way', async () => {
  const t = tag();
  h.fake.on(
    (r) => r.allText.includes(`research ${t}`),
    (req) => {
      if (req.lastUserText.startsWith('Your reply does not match')) return { text: GOOD };
      if (req.lastUserText.startsWith('Give that final answer as JSON')) return { text: BAD };
      if (req.messages.some((m) => m.role === 'tool')) return { text: 'A feature: make it faster.' };
      return { toolCalls: [{ name: 'lookup', arguments: { q: 'slow' } }] };
    },
  );
  const definition = loadEnsembleText(
    [
      `name: tool-structured-${t}`,
      'profiles:',
      '  oa: { provider: openai, model: gpt-test }',
      'default_profile: oa',
      'agents:',
      '  - name: research',
      `    prompt: "research ${t} {{input}}"`,
      '    tools: [lookup]',
      '    output_schema:',
      '      type: object',
      '      properties:',
      '        kind: { type: string, enum: [fix, feature] }',
      '        summary: { type: string }',
      '      required: [kind, summary]',
    ].join('\n'),
    'tool-structured.yaml',
    { knownTools: ['lookup'] },
  );
  const result = await h.baton.run(definition, 'the app is slow', { runId: id('tool-agent') });
  expect(result.output).toBe(GOOD);
  // A tool call, the prose answer, the JSON answer and its repair.
  expect(result.steps[0]).toMatchObject({ name: 'research', calls: 4, toolCalls: 1 });
});
