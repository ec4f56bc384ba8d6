/**
 * ReAct tool agent: the model calls tools (each call its own activity, arguments checked by the
 * tool's zod schema, only tools on the agent's allowlist), reads the results and answers.
 *
 *   npx tsx examples/react-agent.ts
 */
import type { ReactResult } from '../src/workflows/patterns';
import { log, preview, printRun, runMain, withExample } from './_support';

runMain(() =>
  withExample(async ({ profile, run }) => {
    const res = await run<ReactResult>('reactWorkflow', {
      input: 'What is the combined population of France and Germany, in millions?',
      agent: {
        name: 'researcher',
        profile,
        system: 'Answer with the tools. Look facts up with search; do arithmetic with calculator.',
        tools: ['search', 'calculator'],
        maxIterations: 6,
      },
    });
    printRun(res);
    for (const c of res.result.toolCalls) {
      log(
        `tool ${c.name}(${JSON.stringify(c.arguments)}) -> ${c.ok ? 'ok' : c.error}: ${preview(c.content, 80)}`,
      );
    }
    log(`${res.result.iterations} model calls, stopped by ${res.result.stoppedBy}`);
  }),
);
