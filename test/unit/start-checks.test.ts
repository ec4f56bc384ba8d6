/**
 * BatonClient.start checks a definition with the run's schema before anything starts; one whose
 * JSON passed lately is not parsed again. What passes and what is refused stays the same.
 */
import { definitionIssues } from '../../src/client';
import { checkDefinition } from '../../src/config/definition-schema';
import type { EnsembleDefinition } from '../../src/types';

const profile = { name: 'p', provider: 'offline' as const, model: 'm' };
const def = (name: string): EnsembleDefinition => ({
  name,
  steps: [
    { kind: 'agent', name: 'a', dependsOn: [], profile, prompt: 'one {{input}}' },
    { kind: 'agent', name: 'b', dependsOn: ['a'], profile, prompt: 'two {{steps.a}}' },
  ],
});
const paths = (issues: { path: string }[]) => issues.map((i) => i.path);

test('a definition that passed passes again, and its copies too', () => {
  expect(definitionIssues(def('same'))).toEqual([]);
  expect(definitionIssues(def('same'))).toEqual([]);
  const d = def('same');
  expect(definitionIssues(d)).toEqual([]);
  expect(definitionIssues(d)).toEqual([]);
});

test('a definition changed after it passed is checked again, and refused when wrong', () => {
  const d = def('changed');
  expect(definitionIssues(d)).toEqual([]);
  d.steps[1]!.dependsOn = ['missing'];
  expect(paths(definitionIssues(d))).toContain('definition.steps[1].dependsOn[0]');
  // The same answer as the schema itself gives, again and again.
  expect(definitionIssues(d)).toEqual(checkDefinition(d, 'definition'));
  expect(definitionIssues(d)).toEqual(checkDefinition(d, 'definition'));
});

test('values JSON cannot carry (NaN, a cycle) are refused as before', () => {
  const ok = { ...def('budget'), budget: { maxCostUsd: 1 } };
  expect(definitionIssues(ok)).toEqual([]);
  const nan = { ...def('budget'), budget: { maxCostUsd: Number.NaN } };
  expect(paths(definitionIssues(nan))).toEqual(['definition.budget.maxCostUsd']);
  const cyclic = def('cyclic') as EnsembleDefinition & { self?: unknown };
  cyclic.self = cyclic;
  expect(definitionIssues(cyclic)).toEqual(checkDefinition(cyclic, 'definition'));
});

test('after many other definitions, an early one is still checked right', () => {
  const first = def('early');
  expect(definitionIssues(first)).toEqual([]);
  for (let i = 0; i < 100; i++) expect(definitionIssues(def(`other-${i}`))).toEqual([]);
  expect(definitionIssues(first)).toEqual([]);
  first.steps[0]!.dependsOn = ['b'];
  expect(definitionIssues(first).length).toBeGreaterThan(0);
});
