/**
 * `npm run record-histories`: run one workflow of every pattern on the offline provider against
 * a real server and save each history here. test/integration/replay.test.ts replays them all, so
 * a workflow change that would break runs already in flight fails CI. Re-record only on purpose
 * (a new pattern, or a change guarded by patched()); keep the old files that still matter.
 *
 * Files named `examples-*.json` are runs of the example user workflows (examples/workflows.ts,
 * which compose the patterns) and replay against that module; the others against src/workflows.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatonClient } from '../../src/client';
import { loadEnsembleFile, loadEnsembleText } from '../../src/config';
import { BUILTIN_PROFILES } from '../../src/config/profiles';
import { chain, fanOutJoin } from '../../src/define';
import { fetchRunHistory, historyJSON } from '../../src/replay';
import { acquireTemporal } from '../../src/server';
import type { EnsembleDefinition } from '../../src/types';
import { createWorker } from '../../src/worker';
import { exampleTools } from '../../examples/tools';

const examples = join(__dirname, '..', '..', 'examples', 'ensembles');
const profile = BUILTIN_PROFILES.offline!;

/** Runs of Baton's own workflow (ensembles), each with the input it runs on. */
const ensembles: { name: string; definition: () => EnsembleDefinition; input: string; approve?: boolean }[] = [
  {
    name: 'chain',
    definition: () =>
      chain('chain', [
        { name: 'outline', profile: 'offline' },
        { name: 'draft', profile: 'offline', prompt: 'Draft from {{outline}}' },
      ]),
    input: 'durable agents',
  },
  {
    name: 'fan-out-join',
    definition: () => fanOutJoin('fan-out-join', [{ name: 'a', profile: 'offline' }, { name: 'b', profile: 'offline' }], { name: 'join', profile: 'offline' }),
    input: 'review this',
  },
  { name: 'ensemble-code-review', definition: () => loadEnsembleFile(join(examples, 'code-review.yaml')), input: 'const x = 1;' },
  { name: 'ensemble-fan-out', definition: () => loadEnsembleFile(join(examples, 'research-report.yaml')), input: 'Why durable execution?' },
  { name: 'ensemble-router', definition: () => loadEnsembleFile(join(examples, 'support-triage.yaml')), input: 'I was charged twice' },
  { name: 'ensemble-loop', definition: () => loadEnsembleFile(join(examples, 'refine-essay.yaml')), input: 'a haiku about retries' },
  {
    name: 'ensemble-react-tools',
    definition: () =>
      loadEnsembleText(
        'name: react-tools\ndefault_profile: offline\nagents:\n  - name: researcher\n    tools: [search, calculator]\n    max_iterations: 4\n    prompt: "Population of {{input}}?"\n',
        'react-tools.yaml',
      ),
    input: 'France',
  },
  {
    name: 'ensemble-approval',
    definition: () =>
      loadEnsembleText(
        'name: approval\ndefault_profile: offline\nagents:\n  - name: draft\n    prompt: "{{input}}"\n  - name: sign-off\n    kind: approval\n    depends_on: [draft]\n    deadline: 1h\n  - name: publish\n    depends_on: [sign-off]\n    prompt: "Publish {{sign-off}}"\n',
        'approval.yaml',
      ),
    input: 'a release note',
    approve: true,
  },
];

/** Runs of the example user workflows, which compose the TypeScript patterns. */
const patterns: { name: string; workflow: string; input: unknown }[] = [
  { name: 'examples-evaluator-optimizer', workflow: 'evaluatorOptimizerWorkflow', input: { input: 'Describe Baton.', generator: { name: 'writer', profile }, evaluator: { name: 'editor', profile }, maxRounds: 2 } },
  { name: 'examples-router', workflow: 'supportDesk', input: { input: 'What is the population of France?', profile } },
  { name: 'examples-react', workflow: 'reactWorkflow', input: { input: 'Population of France?', agent: { name: 'researcher', profile, tools: ['search', 'calculator'], maxIterations: 4 } } },
  {
    name: 'examples-plan-execute',
    workflow: 'planExecuteWorkflow',
    input: { input: 'Combined population of France and Germany?', planner: { name: 'planner', profile }, solver: { name: 'solver', profile }, tools: ['search', 'calculator'], maxSteps: 4 },
  },
  {
    name: 'examples-supervisor',
    workflow: 'supervisorWorkflow',
    input: { input: 'A brief on France.', supervisor: { name: 'lead', profile }, agents: [{ name: 'writer', profile, description: 'writes prose' }], maxRounds: 2 },
  },
  {
    name: 'examples-fan-out',
    workflow: 'fanOutWorkflow',
    input: { input: 'code', agents: [{ name: 'a', profile }, { name: 'b', profile }], limit: 1, onError: 'collect', join: { name: 'j', profile, prompt: '{{branches}}' } },
  },
];

async function save(client: Client, workflowId: string, name: string): Promise<void> {
  const file = join(__dirname, `${name}.json`);
  writeFileSync(file, historyJSON(await fetchRunHistory(client, workflowId)));
  console.log(`recorded ${file}`);
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const temporal = await acquireTemporal();
  const native = await NativeConnection.connect(temporal.connectionOptions);
  const queue = `record-${process.pid}`;
  const workers = [
    await createWorker({ connection: native, namespace: temporal.namespace, taskQueue: queue, tools: exampleTools }),
    await createWorker({
      connection: native,
      namespace: temporal.namespace,
      taskQueue: `${queue}-examples`,
      workflowsPath: require.resolve('../../examples/workflows'),
      tools: exampleTools,
    }),
  ];
  const running = workers.map((w) => w.run());
  const connection = await Connection.connect(temporal.connectionOptions);
  const baton = await BatonClient.connect({ connection, namespace: temporal.namespace, taskQueue: queue });
  try {
    for (const r of ensembles) {
      const { runId } = await baton.start(r.definition(), r.input, { runId: `history-${r.name}` });
      if (r.approve) {
        while ((await baton.pendingApprovals(runId)).length === 0) await new Promise((res) => setTimeout(res, 100));
        await baton.approve(runId, { by: 'recorder', comment: 'recorded history' });
      }
      await baton.result(runId);
      await save(baton.temporal, runId, r.name);
    }
    for (const p of patterns) {
      const workflowId = `history-${p.name}`;
      await baton.temporal.workflow.execute(p.workflow, { taskQueue: `${queue}-examples`, workflowId, args: [p.input] });
      await save(baton.temporal, workflowId, p.name);
      if (p.workflow === 'supervisorWorkflow') {
        // Sub-agents are Baton's own child workflow type: record the first child too.
        for await (const w of baton.temporal.workflow.list({ query: `ParentWorkflowId = '${workflowId}'` })) {
          await save(baton.temporal, w.workflowId, 'supervisor-sub-agent');
          break;
        }
      }
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await connection.close();
    await native.close();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
