/**
 * Tools the examples register on their worker: a lookup in a small fixed fact base, and a
 * calculator. Real tools look the same: a name, a description the model reads, a zod schema
 * its arguments must match, and a function that runs in the worker (I/O allowed).
 */
import { z } from 'zod';
import { createTool } from '../src/activities/tools';

const FACTS: { keys: string[]; text: string }[] = [
  {
    keys: ['france', 'french', 'paris'],
    text: 'France has a population of about 68.4 million (2024); its capital is Paris.',
  },
  {
    keys: ['germany', 'german', 'berlin'],
    text: 'Germany has a population of about 84.5 million (2024); its capital is Berlin.',
  },
  { keys: ['eiffel', 'tower'], text: 'The Eiffel Tower is 330 metres tall and was finished in 1889.' },
  {
    keys: ['temporal', 'durable', 'workflow'],
    text: 'Temporal runs workflows durably: each step is recorded, so a crash resumes where it stopped.',
  },
  {
    keys: ['rewoo', 'react', 'planner'],
    text: 'ReWOO plans every tool call up front; ReAct decides one call at a time from what it observed.',
  },
];

/** Look facts up by keyword; no match is an answer too (the model reads it and moves on). */
export const search = createTool({
  name: 'search',
  description: 'Look facts up in a small knowledge base (countries, landmarks, Temporal, agent patterns).',
  input: z.object({ query: z.string().min(1).describe('keywords to look up') }),
  run: ({ query }) => {
    const words = query.toLowerCase().split(/[^a-z0-9]+/);
    const hits = FACTS.filter((f) => f.keys.some((k) => words.includes(k))).map((f) => f.text);
    return hits.length ? hits.join('\n') : `No facts found for '${query}'.`;
  },
});

/** Evaluate + - * / and parentheses on decimal numbers; anything else is an error (the model sees it). */
export function evaluateArithmetic(expression: string): number {
  const src = expression.replace(/\s+/g, '');
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(
      `cannot evaluate '${expression}': ${what} at position ${i + 1}; use numbers, + - * / and parentheses`,
    );
  };
  const number = (): number => {
    const m = /^\d+(\.\d+)?/.exec(src.slice(i));
    if (!m) return fail('expected a number');
    i += m[0].length;
    return Number(m[0]);
  };
  const factor = (): number => {
    if (src[i] === '-') {
      i++;
      return -factor();
    }
    if (src[i] === '(') {
      i++;
      const v = sum();
      if (src[i] !== ')') fail("expected ')'");
      i++;
      return v;
    }
    return number();
  };
  const product = (): number => {
    let v = factor();
    while (src[i] === '*' || src[i] === '/') {
      const op = src[i++];
      const r = factor();
      v = op === '*' ? v * r : v / r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (src[i] === '+' || src[i] === '-') {
      const op = src[i++];
      const r = product();
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const v = sum();
  if (i < src.length) fail('unexpected character');
  return v;
}

export const calculator = createTool({
  name: 'calculator',
  description: 'Evaluate an arithmetic expression such as (68.4 + 84.5) * 2.',
  input: z.object({ expression: z.string().describe('numbers, + - * / and parentheses') }),
  run: ({ expression }) => String(evaluateArithmetic(expression)),
});

export const exampleTools = [search, calculator];
