/**
 * Parallel fan-out / fan-in: three reviewers read the same code at once (at most two at a time),
 * every branch is kept with its status, and a join merges the reviews. Then a map: one agent
 * per item.
 *
 *   npx tsx examples/parallel.ts
 */
import type { FanOutResult } from '../src/workflows/patterns';
import { log, printRun, runMain, withExample } from './_support';

const code = 'function total(items) { let t = 0; for (const i of items) t += i.price * i.qty; return t }';

runMain(() =>
  withExample(async ({ profile, run }) => {
    const review = await run<FanOutResult>('fanOutWorkflow', {
      input: code,
      agents: ['security', 'style', 'tests'].map((aspect) => ({
        name: aspect,
        profile,
        system: `You review code for ${aspect} only.`,
        prompt: `Review this code for ${aspect}:\n{{input}}`,
      })),
      limit: 2,
      onError: 'collect',
      join: {
        name: 'summary',
        profile,
        prompt: 'Merge these reviews into one list of changes:\n{{branches}}',
      },
    });
    printRun(review);
    log(`branches: ${review.result.branches.map((b) => `${b.name}=${b.status}`).join(', ')}`);

    const map = await run<FanOutResult>('mapWorkflow', {
      input: 'a release note',
      items: ['faster cold starts', 'retries honour Retry-After', 'approval gates'],
      agent: { name: 'blurb', profile, prompt: 'Write one sentence for {{input}} about: {{item}}' },
      limit: 3,
    });
    printRun(map);
  }),
);
