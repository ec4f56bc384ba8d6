/**
 * Example user workflows built from Baton's patterns. A worker registers this file with
 * `createWorker({ workflowsPath: require.resolve('./workflows') })`; it re-exports Baton's own
 * workflows (the ensemble run, the supervisor's sub-agent) so one worker serves them all.
 *
 * Each pattern gets a thin workflow that takes its spec as input (the examples and the
 * integration tests start them); `supportDesk` shows patterns composed in one workflow of your own.
 */
import type { Budget, ModelProfile } from '../src/types';
import type { RunOptions } from '../src/workflows/api';
import {
  chain,
  evaluatorOptimizer,
  fanOut,
  mapAgent,
  planAndExecute,
  reactAgent,
  route,
  runPattern,
  supervisor,
  type Agent,
  type EvaluatorOptimizerSpec,
  type FanOutOptions,
  type PlanExecuteSpec,
  type ReactOptions,
  type SupervisorSpec,
} from '../src/workflows/patterns';

export * from '../src/workflows';

/** What every example workflow takes besides its pattern's spec. */
export interface RunSettings {
  input: string;
  budget?: Budget;
  options?: RunOptions;
}

const settings = (s: RunSettings) => ({
  ...(s.budget && { budget: s.budget }),
  ...(s.options && { options: s.options }),
});

export async function chainWorkflow(i: RunSettings & { agents: Agent[] }) {
  return runPattern('chain', settings(i), (ctx) => chain(ctx, i.agents, i.input));
}

export async function fanOutWorkflow(i: RunSettings & FanOutOptions & { agents: Agent[] }) {
  return runPattern('fan-out', settings(i), (ctx) => fanOut(ctx, i.agents, i.input, i));
}

export async function mapWorkflow(i: RunSettings & FanOutOptions & { agent: Agent; items: string[] }) {
  return runPattern('map', settings(i), (ctx) => mapAgent(ctx, i.agent, i.items, i.input, i));
}

export async function evaluatorOptimizerWorkflow(i: RunSettings & EvaluatorOptimizerSpec) {
  return runPattern('evaluator-optimizer', settings(i), (ctx) => evaluatorOptimizer(ctx, i, i.input));
}

export async function routerWorkflow(
  i: RunSettings & { classifier: Agent; routes: Record<string, Agent>; default: Agent },
) {
  return runPattern('router', settings(i), (ctx) => route(ctx, i, i.input));
}

export async function reactWorkflow(
  i: RunSettings & { agent: Agent; onMaxIterations?: ReactOptions['onMaxIterations'] },
) {
  return runPattern('react', settings(i), (ctx) =>
    reactAgent(ctx, i.agent, i.input, {
      role: 'agent',
      ...(i.onMaxIterations && { onMaxIterations: i.onMaxIterations }),
    }),
  );
}

export async function planExecuteWorkflow(i: RunSettings & PlanExecuteSpec) {
  return runPattern('plan-execute', settings(i), (ctx) => planAndExecute(ctx, i, i.input));
}

export async function supervisorWorkflow(i: RunSettings & SupervisorSpec) {
  return runPattern('supervisor', settings(i), (ctx) => supervisor(ctx, i, i.input));
}

/**
 * Patterns composed in one workflow: a router sends a request to a ReAct agent with tools
 * (questions of fact), to an evaluator–optimizer loop (writing), or to a plain agent (anything else).
 */
export async function supportDesk(i: RunSettings & { profile: ModelProfile }) {
  const profile = i.profile;
  return runPattern('support-desk', settings(i), (ctx) =>
    route(
      ctx,
      {
        classifier: { name: 'triage', profile, system: 'You sort incoming requests.' },
        routes: {
          facts: {
            description: 'questions of fact that need looking up or arithmetic',
            run: async (q, c) =>
              (
                await reactAgent(
                  c,
                  { name: 'researcher', profile, tools: ['search', 'calculator'], maxIterations: 5 },
                  q,
                )
              ).output,
          },
          writing: {
            description: 'requests to write or rewrite a text',
            run: async (q, c) =>
              (
                await evaluatorOptimizer(
                  c,
                  {
                    generator: { name: 'writer', profile },
                    evaluator: { name: 'editor', profile },
                    maxRounds: 2,
                  },
                  q,
                )
              ).output,
          },
        },
        default: { name: 'helper', profile, system: 'You help politely and briefly.' },
      },
      i.input,
    ),
  );
}
