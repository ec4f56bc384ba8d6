import { toJSONSchema, z } from 'zod';
import { checkReply, schemaProblem } from '../../src/activities/json-schema';
import { strictSchemaAllowed, strictSchemaProblem } from '../../src/activities/providers/strict-schema';
import { repairPrompt, structuredOutputMessage } from '../../src/structured-output';
import { routeSchema } from '../../src/workflows/patterns/router';
import { verdictSchema } from '../../src/workflows/patterns/evaluator-optimizer';

const kindSchema = {
  type: 'object',
  properties: { kind: { type: 'string', enum: ['fix', 'feature'] }, summary: { type: 'string' } },
  required: ['kind', 'summary'],
};

describe('checkReply (Ajv, in the model activity)', () => {
  test('a reply that fits is valid; its JSON is carried apart only when the text held more', () => {
    expect(checkReply(kindSchema, '{"kind":"fix","summary":"s"}')).toEqual({ valid: true });
    expect(checkReply(kindSchema, '```json\n{"kind":"fix","summary":"s"}\n```')).toEqual({
      valid: true,
      json: '{"kind":"fix","summary":"s"}',
    });
  });

  test('an enum value outside the schema and a missing required field are named by path', () => {
    const r = checkReply(kindSchema, '{"kind":"improvement"}');
    expect(r.valid).toBe(false);
    if (r.valid) return;
    expect(r.issues).toEqual([
      { path: 'summary', message: 'is required but missing' },
      { path: 'kind', message: 'must be one of "fix", "feature"' },
    ]);
  });

  test('nested paths are dotted; a reply without JSON is a root issue', () => {
    const schema = {
      type: 'object',
      properties: {
        items: { type: 'array', items: { type: 'object', properties: { n: { type: 'number' } } } },
      },
    };
    const r = checkReply(schema, '{"items":[{"n":1},{"n":"two"}]}');
    expect(r).toEqual({ valid: false, issues: [{ path: 'items.1.n', message: 'must be number' }] });
    expect(checkReply(schema, 'I cannot answer that.')).toEqual({
      valid: false,
      issues: [{ path: '(root)', message: 'the reply is not JSON' }],
    });
  });

  test('draft 2020-12 by default (zod tuples, shared and recursive $defs); draft-07 when $schema says so', () => {
    const node: z.ZodType = z.object({
      name: z.string(),
      get children() {
        return z.array(node);
      },
    });
    const shared = z.object({ a: z.string() });
    const schema = toJSONSchema(
      z.object({ x: shared, y: shared, t: z.tuple([z.string(), z.number()]), tree: node }),
    ) as Record<string, unknown>;
    const reply = (y: unknown, t: unknown, child: unknown) =>
      JSON.stringify({
        x: { a: 'q' },
        y: { a: y },
        t,
        tree: { name: 'r', children: [{ name: child, children: [] }] },
      });
    expect(checkReply(schema, reply('ok', ['a', 1], 'c'))).toEqual({ valid: true });
    expect(checkReply(schema, reply(1, ['a', 'b'], 3))).toEqual({
      valid: false,
      issues: [
        { path: 'y.a', message: 'must be string' },
        { path: 't.1', message: 'must be number' },
        { path: 'tree.children.0.name', message: 'must be string' },
      ],
    });
    const draft07 = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'array',
      items: [{ type: 'string' }, { type: 'number' }],
    };
    expect(checkReply(draft07, '["a", 1]')).toEqual({ valid: true, json: '["a",1]' });
    expect(checkReply(draft07, '["a", "b"]')).toMatchObject({ valid: false, issues: [{ path: '1' }] });
  });

  test('a $schema line and unknown keywords are accepted; a broken schema is reported', () => {
    expect(
      checkReply(
        { $schema: 'https://json-schema.org/draft/2020-12/schema', 'x-note': 1, type: 'object' },
        '{}',
      ),
    ).toEqual({ valid: true });
    expect(schemaProblem({ type: 'object', properties: { a: { type: 'strang' } } })).toMatch(/type/);
    expect(schemaProblem(kindSchema)).toBeUndefined();
  });
});

describe('strictSchemaAllowed (OpenAI strict: true)', () => {
  const strict = {
    type: 'object',
    properties: {
      kind: { type: 'string', enum: ['fix', 'feature'] },
      tags: { type: 'array', items: { type: 'string' } },
      note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    },
    required: ['kind', 'tags', 'note'],
    additionalProperties: false,
  };

  test('a schema with every property required and additionalProperties false qualifies', () => {
    expect(strictSchemaProblem(strict)).toBeUndefined();
    expect(strictSchemaAllowed(strict)).toBe(true);
  });

  test("the patterns' schemas qualify", () => {
    expect(strictSchemaAllowed(routeSchema(['billing', 'tech']).toJSONSchema())).toBe(true);
    expect(strictSchemaAllowed(verdictSchema.toJSONSchema())).toBe(true);
  });

  test.each([
    ['an optional property', { ...strict, required: ['kind', 'tags'] }, "(root): 'note' is not required"],
    [
      'no additionalProperties: false',
      { ...strict, additionalProperties: undefined },
      '(root): additionalProperties must be false',
    ],
    [
      'a nested object that allows more',
      {
        type: 'object',
        properties: { a: { type: 'object', properties: { b: { type: 'string' } }, required: ['b'] } },
        required: ['a'],
        additionalProperties: false,
      },
      'a: additionalProperties must be false',
    ],
    ['an unsupported keyword', { ...strict, allOf: [] }, "(root): 'allOf' is not supported"],
    [
      'a non-object root',
      { type: 'array', items: { type: 'string' } },
      "(root): strict mode needs type 'object' at the root",
    ],
    [
      'an unsupported format',
      {
        type: 'object',
        properties: { u: { type: 'string', format: 'uri-template' } },
        required: ['u'],
        additionalProperties: false,
      },
      "u: format 'uri-template' is not supported",
    ],
  ])('%s does not qualify', (_what, schema, problem) => {
    const clean = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
    expect(strictSchemaProblem(clean)).toBe(problem);
    expect(strictSchemaAllowed(clean)).toBe(false);
  });

  test('the kind schema of the docs (summary optional-free, no additionalProperties) does not qualify', () => {
    expect(strictSchemaAllowed(kindSchema)).toBe(false);
  });
});

describe('the words of repairs and of the error', () => {
  const issues = [
    { path: 'kind', message: 'must be one of "fix", "feature"' },
    { path: 'summary', message: 'is required but missing' },
  ];

  test('the repair prompt lists every issue', () => {
    expect(repairPrompt(issues)).toBe(
      [
        'Your reply does not match the required JSON schema:',
        '- kind: must be one of "fix", "feature"',
        '- summary: is required but missing',
        'Reply again with the whole answer as JSON that matches the schema, and nothing else.',
      ].join('\n'),
    );
  });

  test('the error names the step, the first path, the count and the start of the reply', () => {
    const msg = structuredOutputMessage(
      'triage',
      issues,
      `{"kind":"improvement","text":"${'x'.repeat(300)}"}`,
      3,
    );
    expect(msg).toMatch(
      /^step 'triage': the model's reply does not match the output schema at 'kind': must be one of/,
    );
    expect(msg).toContain('(and 1 more: summary)');
    expect(msg).toContain('3 replies refused (2 repairs)');
    expect(msg).toContain('The last reply began: "{\\"kind\\":\\"improvement\\"');
    expect(msg.length).toBeLessThan(600);
  });
});
