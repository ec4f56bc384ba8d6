import { evaluateCondition, resolveRef, splitItems } from '../../src/workflows/conditions';

const outputs = {
  triage: '{"category":"billing","score":0.9,"pass":true,"nested":{"a":"x"}}',
  draft: 'Hello world',
};

test('resolveRef reads text and JSON fields', () => {
  expect(resolveRef('draft', outputs)).toBe('Hello world');
  expect(resolveRef('triage.category', outputs)).toBe('billing');
  expect(resolveRef('triage.nested.a', outputs)).toBe('x');
  expect(resolveRef('triage.missing', outputs)).toBeUndefined();
  expect(resolveRef('draft.field', outputs)).toBeUndefined();
  expect(resolveRef('nope', outputs)).toBeUndefined();
});

test.each([
  [{ ref: 'triage.category', op: 'equals', value: 'billing' }, true],
  [{ ref: 'triage.category', op: 'equals', value: 'BILLING' }, true],
  [{ ref: 'triage.category', op: 'not_equals', value: 'bug' }, true],
  [{ ref: 'triage.pass', op: 'equals', value: true }, true],
  [{ ref: 'triage.pass', op: 'truthy' }, true],
  [{ ref: 'triage.missing', op: 'truthy' }, false],
  [{ ref: 'triage.missing', op: 'falsy' }, true],
  [{ ref: 'draft', op: 'contains', value: 'world' }, true],
  [{ ref: 'draft', op: 'contains', value: 'mars' }, false],
  [{ ref: 'nope', op: 'equals', value: 'x' }, false],
] as const)('%j is %s', (c, expected) => {
  expect(evaluateCondition(c, outputs)).toBe(expected);
});

test('splitItems takes JSON arrays or one item a line, without list markers', () => {
  expect(splitItems('["a", {"b":1}]')).toEqual(['a', '{"b":1}']);
  expect(splitItems('- one\n* two\n3. three\n\n  four  ')).toEqual(['one', 'two', 'three', 'four']);
  expect(splitItems('[not json')).toEqual(['[not json']);
  expect(splitItems('')).toEqual([]);
});

test('splitItems takes the one list field of a structured object', () => {
  expect(splitItems('{"questions": ["a", "b"]}')).toEqual(['a', 'b']);
  expect(splitItems('{"a": [1], "b": [2]}')).toEqual(['{"a": [1], "b": [2]}']);
});
