import { checkAssertion, parseDataset } from '../../src/evals/dataset';

describe('assertions', () => {
  test('exact compares trimmed text unless trim is false', () => {
    expect(checkAssertion(' 4\n', { type: 'exact', value: '4' }).pass).toBe(true);
    expect(checkAssertion(' 4\n', { type: 'exact', value: '4', trim: false }).pass).toBe(false);
  });
  test('contains and not_contains, with ignore_case', () => {
    expect(checkAssertion('Paris', { type: 'contains', value: 'paris' }).pass).toBe(false);
    expect(checkAssertion('Paris', { type: 'contains', value: 'paris', ignore_case: true }).pass).toBe(true);
    expect(checkAssertion('Paris', { type: 'not_contains', value: 'Rome' }).pass).toBe(true);
    expect(checkAssertion('Paris', { type: 'not_contains', value: 'Par' })).toEqual({
      type: 'not_contains',
      pass: false,
      detail: 'contains "Par"',
    });
  });
  test('regex with flags', () => {
    expect(checkAssertion('Total: 42', { type: 'regex', pattern: '^total: \\d+$', flags: 'i' }).pass).toBe(
      true,
    );
    expect(checkAssertion('Total: x', { type: 'regex', pattern: '\\d+' }).detail).toBe(
      'does not match /\\d+/',
    );
  });
  test('json_schema names the failing field', () => {
    const schema = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] };
    expect(checkAssertion('{"n": 3}', { type: 'json_schema', schema }).pass).toBe(true);
    const bad = checkAssertion('{"n": "three"}', { type: 'json_schema', schema });
    expect(bad.pass).toBe(false);
    expect(bad.detail).toMatch(/n/);
    // A fenced reply is read as its JSON.
    expect(checkAssertion('```json\n{"n": 3}\n```', { type: 'json_schema', schema }).pass).toBe(true);
  });
  test('range reads the output, or a dotted path into its JSON', () => {
    expect(checkAssertion('7', { type: 'range', min: 1, max: 10 }).pass).toBe(true);
    expect(checkAssertion('11', { type: 'range', max: 10 }).detail).toBe('the output is 11, above 10');
    expect(checkAssertion('{"a":{"b":0.5}}', { type: 'range', min: 0.6, path: 'a.b' }).detail).toBe(
      "'a.b' is 0.5, below 0.6",
    );
    expect(checkAssertion('many', { type: 'range', min: 1 }).detail).toBe('the output is not a number');
  });
});

describe('parseDataset', () => {
  test('one case a line; ids default to the position; blank and // lines skipped; rubric shorthand', () => {
    const cases = parseDataset(
      '// a comment\n{"input":"a","assert":[{"type":"contains","value":"a"}]}\n\n{"id":"b","input":"b","rubric":"kind"}\n',
      'c.jsonl',
    );
    expect(cases).toEqual([
      { id: '1', input: 'a', assert: [{ type: 'contains', value: 'a' }] },
      { id: 'b', input: 'b', assert: [], rubric: { criteria: 'kind', threshold: 0.5 } },
    ]);
  });
  test.each([
    ['{"input": 1, "assert": []}', 'c.jsonl:1: input: expected the case input (a string)'],
    ['not json', 'c.jsonl:1: not a JSON object'],
    ['{"input":"x"}', "c.jsonl:1: case '1' has no 'assert' and no 'rubric': nothing to score"],
    [
      '{"input":"x","assert":[{"type":"similar","value":"y"}]}',
      "c.jsonl:1: assert[0].type: expected an assertion with type 'exact'",
    ],
    [
      '{"input":"x","assert":[{"type":"regex","pattern":"("}]}',
      'c.jsonl:1: assert[0]: pattern is not a valid regular expression',
    ],
    ['{"input":"x","assert":[{"type":"range"}]}', 'c.jsonl:1: assert[0]: range needs min, max or both'],
    [
      '{"input":"x","assert":[{"type":"json_schema","schema":{"type":"nope"}}]}',
      'c.jsonl:1: assert[0]: schema is not a valid JSON Schema',
    ],
    [
      '{"id":"a","input":"x","rubric":"r"}\n{"id":"a","input":"y","rubric":"r"}',
      "c.jsonl:2: id 'a' is used by an earlier case",
    ],
    ['\n\n', 'c.jsonl: holds no cases'],
    ['{"input":"x","rubric":"r","extra":1}', 'c.jsonl:1: '],
  ])('refuses %s naming file, line and field', (text, message) => {
    expect(() => parseDataset(text, 'c.jsonl')).toThrow(message);
  });
});
