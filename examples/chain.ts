/**
 * Prompt chain: outline, draft, polish; each step reads the one before.
 *
 *   npx tsx examples/chain.ts
 */
import type { ChainResult } from '../src/workflows/patterns';
import { log, printRun, runMain, withExample } from './_support';

runMain(() =>
  withExample(async ({ profile, run }) => {
    const res = await run<ChainResult>('chainWorkflow', {
      input: 'why durable execution matters for LLM agents',
      agents: [
        {
          name: 'outline',
          profile,
          system: 'You plan short technical posts.',
          prompt: 'Outline a short post about: {{input}}',
        },
        {
          name: 'draft',
          profile,
          system: 'You write clearly.',
          prompt: 'Write the post from this outline:\n{{outline}}',
        },
        { name: 'polish', profile, system: 'You are an editor.', prompt: 'Tighten this draft:\n{{draft}}' },
      ],
    });
    printRun(res);
    log(`chain: ${res.result.steps.map((s) => s.name).join(' -> ')}`);
  }),
);
