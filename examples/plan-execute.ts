/**
 * Plan-and-execute, ReWOO style, beside a ReAct run of the same task: the planner writes every
 * step up front (#E1, #E2 cite earlier evidence; independent steps run at once), a solver
 * answers from the evidence. Prints tokens per role, and both runs' totals side by side.
 *
 *   npx tsx examples/plan-execute.ts
 */
import type { PlanExecuteResult, ReactResult } from '../src/workflows/patterns';
import { log, preview, printRun, runMain, withExample } from './_support';

const task = 'What is the combined population of France and Germany, in millions?';

runMain(() =>
  withExample(async ({ profile, run }) => {
    const rewoo = await run<PlanExecuteResult>('planExecuteWorkflow', {
      input: task,
      planner: { name: 'planner', profile },
      solver: { name: 'solver', profile },
      tools: ['search', 'calculator'],
      workers: [
        {
          name: 'LLM',
          profile,
          description: 'A language model: answers a question or reasons over evidence.',
        },
      ],
      maxSteps: 5,
    });
    printRun(rewoo);
    log('plan:');
    for (const s of rewoo.result.plan) {
      const after = s.dependsOn.length
        ? ` (after ${s.dependsOn.join(', ')})`
        : ' (no dependency: runs at once)';
      log(`  #${s.id} = ${s.tool}[${preview(s.input, 60)}]${after}`);
      log(`      evidence: ${preview(rewoo.result.evidence[s.id] ?? '', 90)}`);
    }

    const react = await run<ReactResult>('reactWorkflow', {
      input: task,
      agent: { name: 'react', profile, tools: ['search', 'calculator'], maxIterations: 8 },
    });
    printRun(react);

    const t = rewoo.result.tokens;
    const sum = (u: { inputTokens: number; outputTokens: number }) => u.inputTokens + u.outputTokens;
    log('\ntokens for the same task:');
    log(
      `  ReWOO  planner ${sum(t.planner.usage)} + worker ${sum(t.worker.usage)} + solver ${sum(t.solver.usage)} = ${sum(rewoo.usage)} (${t.planner.calls + t.worker.calls + t.solver.calls} model calls)`,
    );
    log(
      `  ReAct  ${sum(react.usage)} (${react.result.iterations} model calls, ${react.result.toolCalls.length} tool calls)`,
    );
    if (profile.provider === 'offline') {
      log(
        '  (offline provider: rough counts, chars/4; its ReAct stops after one tool call, so this task is small for it.)',
      );
    }
  }),
);
