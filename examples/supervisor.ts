/**
 * Supervisor: a lead model delegates tasks to sub-agents, each run as a child workflow with its
 * own history, reads their results, and finishes when the work is enough (or the rounds run out).
 *
 *   npx tsx examples/supervisor.ts
 */
import type { SupervisorResult } from '../src/workflows/patterns';
import { log, preview, printRun, runMain, withExample } from './_support';

runMain(() =>
  withExample(async ({ profile, run, client }) => {
    const res = await run<SupervisorResult>('supervisorWorkflow', {
      input: 'Write a three-sentence brief comparing the populations of France and Germany.',
      supervisor: { name: 'lead', profile, system: 'You lead a small team and keep the work short.' },
      agents: [
        {
          name: 'researcher',
          profile,
          description: 'looks facts up with a search tool',
          tools: ['search'],
          maxIterations: 4,
        },
        { name: 'writer', profile, description: 'writes short prose from notes it is given' },
      ],
      maxRounds: 3,
    });
    printRun(res);
    for (const r of res.result.rounds) {
      log(`round ${r.round}: ${r.action}${r.error ? ` (${preview(r.error, 60)})` : ''}`);
      for (const d of r.delegations) {
        const child = await client.workflow.getHandle(d.workflowId).describe();
        log(
          `  ${d.agent} [${d.status}] child workflow ${d.workflowId} (parent: ${child.parentExecution?.workflowId})`,
        );
        log(`      task: ${preview(d.task, 70)}`);
      }
    }
    log(`stopped by ${res.result.stoppedBy}`);
  }),
);
