/**
 * Router: a classifier with structured output sends each request to a named route (a ReAct agent
 * with tools for facts, an evaluator–optimizer loop for writing) or to the default route.
 * The workflow, `supportDesk` in examples/workflows.ts, composes three patterns.
 *
 *   npx tsx examples/router.ts
 */
import type { RouteResult } from '../src/workflows/patterns';
import { log, printRun, runMain, withExample } from './_support';

const requests = [
  'What is the population of Germany?',
  'Rewrite this sentence to sound friendlier: your ticket was closed.',
  'Hello there!',
];

runMain(() =>
  withExample(async ({ profile, run }) => {
    for (const input of requests) {
      const res = await run<RouteResult>('supportDesk', { input, profile });
      printRun(res);
      log(`routed to '${res.result.route}' (classifier said '${res.result.classified}')`);
    }
  }),
);
