/**
 * `npm run record-histories`: run one workflow of every pattern on the offline provider against
 * a real server and save each history in test/histories. test/integration/replay.test.ts replays them all, so
 * a workflow change that would break runs already in flight fails CI.
 *
 * Append-only: each recording goes into a new file `<name>@<version>.json` (the version in
 * package.json), and an existing file is never overwritten: the run refuses before it starts.
 * Record again after a release (a new version), or give the recording its own label:
 * `npm run record-histories -- --label 0.2.0-budget-gates` writes `<name>@0.2.0-budget-gates.json`.
 * `--only chain,ensemble-approval` records just those. Files without `@` are the first recordings.
 *
 * Files named `examples-*.json` are runs of the example user workflows (examples/workflows.ts,
 * which compose the patterns) and replay against that module; the others against src/workflows.
 *
 * Paths the offline provider cannot take (a failing call, a budget gate, a repaired structured
 * reply, a tool that says it did not run) use the wire-level fake model server, scripted below by
 * a marker in each prompt; a recording's `drive` decides its gates while it runs.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createTool, ToolNotRun } from '../../src/activities/tools';
import { BatonClient } from '../../src/client';
import { loadEnsembleFile, loadEnsembleText } from '../../src/config';
import { BUILTIN_PROFILES } from '../../src/config/profiles';
import { chain, fanOutJoin } from '../../src/define';
import { fetchRunHistory, historyJSON } from '../../src/replay';
import { acquireTemporal } from '../../src/server';
import type { EnsembleDefinition } from '../../src/types';
import type { PendingApproval, RunOptions } from '../../src/workflows/api';
import { createWorker } from '../../src/worker';
import { exampleTools } from '../../examples/tools';
import { FakeModelServer, type FakeRequest } from './fake-model-server';

const examples = join(__dirname, '..', '..', 'examples', 'ensembles');
/** Where recordings go: test/histories, append-only. */
const HISTORIES = join(__dirname, '..', 'histories');
const profile = BUILTIN_PROFILES.offline!;

/** Runs of Baton's own workflow (ensembles), each with the input it runs on. */
const ensembles: {
  name: string;
  definition: () => EnsembleDefinition;
  input: string;
  approve?: boolean;
  /** The run is meant to fail (a recording of a failure path). */
  fails?: boolean;
  /**
   * Decides the run's gates (and starts more runs) while it runs; returns the id of the run to
   * record when that is not the one started (a fork of it).
   */
  drive?: (baton: BatonClient, runId: string) => Promise<string | void>;
  options?: RunOptions;
  /**
   * A run that continues as new: the recording `name` is its first execution (the one that
   * continued) and this one its last.
   */
  continued?: string;
}[] = [
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
    definition: () =>
      fanOutJoin(
        'fan-out-join',
        [
          { name: 'a', profile: 'offline' },
          { name: 'b', profile: 'offline' },
        ],
        { name: 'join', profile: 'offline' },
      ),
    input: 'review this',
  },
  {
    name: 'ensemble-code-review',
    definition: () => loadEnsembleFile(join(examples, 'code-review.yaml')),
    input: 'const x = 1;',
  },
  {
    name: 'ensemble-fan-out',
    definition: () => loadEnsembleFile(join(examples, 'research-report.yaml')),
    input: 'Why durable execution?',
  },
  {
    name: 'ensemble-router',
    definition: () => loadEnsembleFile(join(examples, 'support-triage.yaml')),
    input: 'I was charged twice',
  },
  {
    name: 'ensemble-loop',
    definition: () => loadEnsembleFile(join(examples, 'refine-essay.yaml')),
    input: 'a haiku about retries',
  },
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
  {
    // A gate waits while a step beside it fails (a model call the fake refuses with 400): the
    // gate is released and the run fails at once (patch 'release-gates-when-a-step-fails').
    name: 'ensemble-gate-beside-failure',
    definition: () =>
      loadEnsembleText(
        'name: gate-beside-failure\ndefault_profile: offline\nprofiles:\n  oa:\n    provider: openai\n    model: gpt-test\nagents:\n  - name: draft\n    prompt: "{{input}}"\n  - name: sign-off\n    kind: approval\n    depends_on: [draft]\n    deadline: 1h\n  - name: check\n    model_profile: oa\n    depends_on: [draft]\n    prompt: "fail here {{draft}}"\n  - name: publish\n    depends_on: [sign-off, check]\n    prompt: "Publish {{sign-off}}"\n',
        'gate-beside-failure.yaml',
      ),
    input: 'a release note',
    fails: true,
  },
  {
    // The step's profile is refused (401): the call moves on to its fallback profile, offline,
    // which answers (patch 'model-fallback-profiles').
    name: 'ensemble-fallback',
    definition: () =>
      loadEnsembleText(
        'name: fallback\nprofiles:\n  oa: { provider: openai, model: gpt-test, fallback_profiles: [offline] }\ndefault_profile: oa\nagents:\n  - name: ask\n    prompt: "fallback-auth {{input}}"\n  - name: after\n    depends_on: [ask]\n    prompt: "after {{ask}}"\n',
        'fallback.yaml',
      ),
    input: 'a release note',
  },
  {
    // A fan-out wider than its shard size runs in shard child workflows, 5 items each, in batches
    // of 2 (patch 'baton-fan-out-shards'); the fake answers the list of 12 items.
    name: 'ensemble-fan-out-shards',
    definition: () =>
      loadEnsembleText(
        'name: fan-out-shards\nprofiles:\n  oa: { provider: openai, model: gpt-test, max_tokens: 20 }\ndefault_profile: offline\nagents:\n  - name: list\n    model_profile: oa\n    prompt: "shard-list {{input}}"\n  - name: each\n    depends_on: [list]\n    prompt: "Item {{item}}"\n    fan_out: { batch: { size: 2 }, shard: { size: 5 } }\n',
        'fan-out-shards.yaml',
      ),
    input: 'tickets',
  },
  {
    // A fan-out wider than its shard size whose tool requires approval stays in the run (patch
    // 'baton-fan-out-shards-keep-gates'): its 3 gates open in the run and are approved.
    name: 'ensemble-fan-out-shards-tool-gate',
    definition: () =>
      loadEnsembleText(
        'name: fan-out-shards-tool-gate\nprofiles:\n  oa: { provider: openai, model: gpt-test, max_tokens: 20 }\ndefault_profile: oa\nagents:\n  - name: list\n    prompt: "gate-list {{input}}"\n  - name: each\n    depends_on: [list]\n    prompt: "gate-item {{item}}"\n    tools: [{ name: calculator, requires_approval: true }]\n    max_iterations: 3\n    fan_out: { shard: { size: 2 } }\n',
        'fan-out-shards-tool-gate.yaml',
      ),
    input: 'tickets',
    drive: async (baton, runId) => {
      const pending = await until(baton, runId, (p) => p.length >= 3);
      for (const g of pending) await baton.approve(runId, { gate: g.gate, digest: g.digest, by: 'recorder' });
    },
  },
  {
    // Over its token budget the run waits at the budget gate; approved with a raised limit it
    // finishes (patch 'baton-budget-ledger'). The fake bills the first call 170 tokens of 200.
    name: 'ensemble-budget-gate',
    definition: () =>
      loadEnsembleText(
        'name: budget-gate\nprofiles:\n  oa: { provider: openai, model: gpt-test, max_tokens: 20 }\ndefault_profile: oa\nbudget: { max_tokens: 200 }\nagents:\n  - name: one\n    prompt: "budget first {{input}}"\n  - name: two\n    depends_on: [one]\n    prompt: "budget second {{one}}"\n',
        'budget-gate.yaml',
      ),
    input: 'a release note',
    drive: async (baton, runId) => {
      await until(baton, runId, (p) => p.some((g) => g.kind === 'budget'));
      await baton.approve(runId, { gate: 'budget', by: 'recorder', budget: { maxTokens: 5000 } });
    },
  },
  {
    // A step fails while a sibling ReAct step waits at a tool gate (calculator, requires_approval):
    // the run halts, the tool gate is released and the tool never runs (patch 'baton-halt-on-failure').
    name: 'ensemble-halt-tool-gate',
    definition: () =>
      loadEnsembleText(
        'name: halt-tool-gate\nprofiles:\n  oa: { provider: openai, model: gpt-test }\ndefault_profile: oa\nagents:\n  - name: pay\n    prompt: "halt-pay {{input}}"\n    tools: [{ name: calculator, requires_approval: true }]\n    max_iterations: 3\n  - name: go\n    kind: approval\n    present: "Go with {{input}}?"\n    deadline: 1h\n  - name: check\n    depends_on: [go]\n    prompt: "fail here {{go}}"\n',
        'halt-tool-gate.yaml',
      ),
    input: 'order 7',
    fails: true,
    drive: async (baton, runId) => {
      const pending = await until(baton, runId, (p) => p.length >= 2);
      const go = pending.find((g) => g.gate === 'go')!;
      await baton.approve(runId, { gate: 'go', digest: go.digest, by: 'recorder' });
    },
  },
  {
    // output_schema: the first reply is outside the enum and is repaired (patch 'structured-output-repair').
    name: 'ensemble-structured-repair',
    definition: () =>
      loadEnsembleText(
        'name: structured-repair\nprofiles:\n  oa: { provider: openai, model: gpt-test }\ndefault_profile: oa\nagents:\n  - name: triage\n    prompt: "classify-repair {{input}}"\n    output_schema:\n      type: object\n      properties:\n        kind: { type: string, enum: [fix, feature] }\n        summary: { type: string }\n      required: [kind, summary]\n  - name: act\n    depends_on: [triage]\n    prompt: "act on {{triage}}"\n',
        'structured-repair.yaml',
      ),
    input: 'the app is slow',
  },
  {
    // A non-idempotent tool says ToolNotRun (retry) once; the workflow tries it again and it
    // succeeds (patch 'baton-tool-call-at-most-once'). The tool `charge` is the recorder's own.
    name: 'ensemble-tool-not-run-retry',
    definition: () =>
      loadEnsembleText(
        'name: tool-not-run\nprofiles:\n  oa: { provider: openai, model: gpt-test }\ndefault_profile: oa\nagents:\n  - name: pay\n    prompt: "charge-once {{input}}"\n    tools: [{ name: charge, idempotent: false }]\n    max_iterations: 3\n',
        'tool-not-run.yaml',
      ),
    input: 'order 8',
  },
  {
    // A fork of an approved run with a new input: the approval would show another draft, so its
    // gate opens again and is approved (patch 'baton-gate-reuse-digest'). The fork is recorded.
    name: 'ensemble-fork-changed-input',
    definition: () =>
      loadEnsembleText(
        'name: fork-gate\ndefault_profile: offline\nagents:\n  - name: review\n    kind: approval\n    present: "Ship {{input}}?"\n    deadline: 1h\n  - name: publish\n    depends_on: [review]\n    prompt: "Publish {{review}}"\n',
        'fork-gate.yaml',
      ),
    input: 'v1',
    drive: async (baton, runId) => {
      await until(baton, runId, (p) => p.length > 0);
      await baton.approve(runId, { by: 'recorder' });
      await baton.result(runId);
      const fork = await baton.fork(runId, { fromStep: 'publish', input: 'v2', runId: `${runId}-fork` });
      const [g] = await until(baton, fork.runId, (p) => p.length > 0);
      await baton.approve(fork.runId, { digest: g!.digest, by: 'recorder' });
      return fork.runId;
    },
  },
  {
    // A ReAct step of 20 tool turns continues its run as new once history holds 150 events, and
    // the continuation picks the step up where it stopped (patch 'baton-react-continue-as-new').
    name: 'ensemble-react-can',
    continued: 'ensemble-react-can-continued',
    definition: () =>
      loadEnsembleText(
        'name: react-can\nprofiles:\n  oa: { provider: openai, model: gpt-test }\ndefault_profile: oa\nagents:\n  - name: walker\n    prompt: "long-walk {{input}}"\n    tools: [calculator]\n    max_iterations: 30\n',
        'react-can.yaml',
      ),
    input: 'twenty steps',
    options: { continueAsNewAfterEvents: 150 },
  },
  {
    // The same 20-turn ReAct step beside an approval step that still waits: the run cannot continue
    // as new, so once history holds 150 events the step hands its remaining turns to a child
    // workflow (patch 'baton-react-child'). The child's history is recorded too, as
    // 'ensemble-react-child-step' (Baton's own child workflow type, batonReactStep).
    name: 'ensemble-react-child',
    definition: () =>
      loadEnsembleText(
        'name: react-child\nprofiles:\n  oa: { provider: openai, model: gpt-test }\ndefault_profile: oa\nagents:\n  - name: walker\n    prompt: "long-walk {{input}}"\n    tools: [calculator]\n    max_iterations: 30\n  - name: sign-off\n    kind: approval\n    present: "Sign {{input}}?"\n    deadline: 1h\noutput: walker\n',
        'react-child.yaml',
      ),
    input: 'twenty steps beside a gate',
    options: { continueAsNewAfterEvents: 150 },
    drive: async (baton, runId) => {
      for (let i = 0; i < 600; i++) {
        const p = await baton.progress(runId);
        if (p.steps.some((s) => s.name === 'walker' && s.status === 'completed')) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      await save(baton.temporal, `${runId}/walker/react`, 'ensemble-react-child-step');
      await baton.approve(runId, { gate: 'sign-off', by: 'recorder' });
    },
  },
];

/** Runs of the example user workflows, which compose the TypeScript patterns. */
const patterns: { name: string; workflow: string; input: unknown; fails?: boolean }[] = [
  {
    name: 'examples-evaluator-optimizer',
    workflow: 'evaluatorOptimizerWorkflow',
    input: {
      input: 'Describe Baton.',
      generator: { name: 'writer', profile },
      evaluator: { name: 'editor', profile },
      maxRounds: 2,
    },
  },
  {
    name: 'examples-router',
    workflow: 'supportDesk',
    input: { input: 'What is the population of France?', profile },
  },
  {
    name: 'examples-react',
    workflow: 'reactWorkflow',
    input: {
      input: 'Population of France?',
      agent: { name: 'researcher', profile, tools: ['search', 'calculator'], maxIterations: 4 },
    },
  },
  {
    name: 'examples-plan-execute',
    workflow: 'planExecuteWorkflow',
    input: {
      input: 'Combined population of France and Germany?',
      planner: { name: 'planner', profile },
      solver: { name: 'solver', profile },
      tools: ['search', 'calculator'],
      maxSteps: 4,
    },
  },
  {
    name: 'examples-supervisor',
    workflow: 'supervisorWorkflow',
    input: {
      input: 'A brief on France.',
      supervisor: { name: 'lead', profile },
      agents: [{ name: 'writer', profile, description: 'writes prose' }],
      maxRounds: 2,
    },
  },
  {
    // Over budget the run fails (recorded before the ledger: the delegation was refused, patch
    // 'supervisor-budget-before-delegation'). Since the ledger a run over budget waits at a budget
    // gate unless `onExceeded: 'fail'`, which this recording asks for, so it still fails.
    name: 'examples-supervisor-over-budget',
    workflow: 'supervisorWorkflow',
    input: {
      input: 'A brief on France.',
      supervisor: { name: 'lead', profile },
      agents: [{ name: 'writer', profile, description: 'writes prose' }],
      maxRounds: 2,
      budget: { maxTokens: 1, onExceeded: 'fail' },
    },
    fails: true,
  },
  {
    name: 'examples-fan-out',
    workflow: 'fanOutWorkflow',
    input: {
      input: 'code',
      agents: [
        { name: 'a', profile },
        { name: 'b', profile },
      ],
      limit: 1,
      onError: 'collect',
      join: { name: 'j', profile, prompt: '{{branches}}' },
    },
  },
];

/** The version a recording is named for: --label, else package.json's version. */
function recordingLabel(argv: string[]): string {
  const i = argv.indexOf('--label');
  const label = i >= 0 ? argv[i + 1] : undefined;
  if (i >= 0 && (!label || !/^[\w.+-]+$/.test(label)))
    throw new Error(
      `--label needs a name of letters, digits, '.', '+', '-' or '_' (got ${label ?? 'nothing'})`,
    );
  if (label) return label;
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The recordings asked for (--only a,b: just those names). */
function selected(argv: string[], all: string[]): Set<string> {
  const i = argv.indexOf('--only');
  if (i < 0) return new Set(all);
  const names = (argv[i + 1] ?? '').split(',').filter(Boolean);
  const unknown = names.filter((n) => !all.includes(n));
  if (names.length === 0 || unknown.length)
    throw new Error(
      `--only: unknown recording ${unknown.join(', ') || '(none given)'}; known: ${all.join(', ')}`,
    );
  return new Set(names);
}

/** Where a recording goes: a new file, never one that exists (histories are append-only). */
export function historyFile(name: string, label: string): string {
  return join(HISTORIES, `${name}@${label}.json`);
}

/** Refuse, before anything runs, to overwrite any recorded history. */
export function refuseExisting(files: string[]): void {
  const taken = files.filter((f) => existsSync(f));
  if (taken.length)
    throw new Error(
      `refusing to overwrite recorded histories (test/histories is append-only; running runs of that version may need them):\n  ${taken.join('\n  ')}\n` +
        'Bump the version in package.json, or record under another name: npm run record-histories -- --label <version>-<what changed>',
    );
}

/** Wait until the run's pending approvals satisfy `ok`; returns them. */
async function until(
  baton: BatonClient,
  runId: string,
  ok: (pending: PendingApproval[]) => boolean,
): Promise<PendingApproval[]> {
  for (let i = 0; i < 600; i++) {
    const pending = await baton.pendingApprovals(runId).catch(() => []);
    if (ok(pending)) return pending;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`run ${runId}: the gates it should open did not open within a minute`);
}

/** A tool only the recorder registers: not idempotent; its first attempt says it did not run. */
const charge = createTool({
  name: 'charge',
  description: 'Charge a card (not idempotent).',
  input: z.object({}),
  idempotent: false,
  run: (_input, ctx) => {
    if (ctx.attempt === 1) throw new ToolNotRun('the bank is busy', { retry: true });
    return 'charged';
  },
});

const hasToolResult = (req: FakeRequest) => req.messages.some((m) => m.role === 'tool');

let label = '';
let wanted = new Set<string>();

async function save(client: Client, workflowId: string, name: string, first = false): Promise<void> {
  const file = historyFile(name, label);
  refuseExisting([file]);
  let history = await fetchRunHistory(client, workflowId);
  // The first execution of a run that continued as new: back along the chain from the latest.
  for (;;) {
    const before = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!first || !before) break;
    history = await client.workflow.getHandle(workflowId, before).fetchHistory();
  }
  // 'wx': fail rather than overwrite, even if the file appeared while the runs went on.
  writeFileSync(file, historyJSON(history), { flag: 'wx' });
  console.log(`recorded ${file}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  label = recordingLabel(argv);
  const names = [
    ...ensembles.flatMap((r) => (r.continued ? [r.name, r.continued] : [r.name])),
    ...patterns.map((p) => p.name),
    'supervisor-sub-agent',
  ];
  wanted = selected(argv, names);
  refuseExisting([...wanted].map((n) => historyFile(n, label)));
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const temporal = await acquireTemporal();
  const native = await NativeConnection.connect(temporal.connectionOptions);
  const queue = `record-${process.pid}`;
  // Failure paths need a provider that fails: the wire-level fake refuses 'fail here' with a 400.
  const fake = await FakeModelServer.start();
  fake.on('fail here', {
    status: 400,
    errorType: 'invalid_request_error',
    message: 'refused on purpose (recording)',
  });
  // The paths of the budget gate, the halt, structured-output repair and tool retries, scripted.
  fake.on('fallback-auth', { status: 401, message: 'refused on purpose (recording)' });
  fake.on('shard-list', { text: JSON.stringify(Array.from({ length: 12 }, (_, i) => `ticket ${i}`)) });
  fake.on('gate-list', { text: JSON.stringify(['ticket 0', 'ticket 1', 'ticket 2']) });
  fake.on('gate-item', (req) =>
    hasToolResult(req)
      ? { text: 'checked' }
      : { toolCalls: [{ id: 'call_1', name: 'calculator', arguments: { expression: '2 + 2' } }] },
  );
  fake.on('budget first', { text: 'ONE', usage: { input: 150, output: 20 } });
  fake.on('budget second', { text: 'TWO', usage: { input: 10, output: 5 } });
  fake.on('halt-pay', (req) =>
    hasToolResult(req)
      ? { text: 'paid' }
      : { toolCalls: [{ id: 'call_1', name: 'calculator', arguments: { expression: '2 + 2' } }] },
  );
  fake.on('classify-repair', (_req, n) => ({
    text: JSON.stringify({ kind: n === 0 ? 'improvement' : 'feature', summary: 'speed it up' }),
  }));
  fake.on('long-walk', (req) => {
    const done = req.messages.filter((m) => m.role === 'tool').length;
    return done >= 20
      ? { text: `walked ${done} steps` }
      : {
          toolCalls: [
            { id: `call_${done + 1}`, name: 'calculator', arguments: { expression: `${done} + 1` } },
          ],
        };
  });
  fake.on('charge-once', (req) =>
    hasToolResult(req)
      ? { text: 'Charged.' }
      : { toolCalls: [{ id: 'call_1', name: 'charge', arguments: {} }] },
  );
  const env = { OPENAI_API_KEY: 'sk-recording', OPENAI_BASE_URL: fake.openaiBaseURL };
  const workers = [
    await createWorker({
      connection: native,
      namespace: temporal.namespace,
      taskQueue: queue,
      tools: [...exampleTools, charge],
      env,
    }),
    await createWorker({
      connection: native,
      namespace: temporal.namespace,
      taskQueue: `${queue}-examples`,
      workflowsPath: require.resolve('../../examples/workflows'),
      tools: exampleTools,
      env,
    }),
  ];
  const running = workers.map((w) => w.run());
  const connection = await Connection.connect(temporal.connectionOptions);
  const baton = await BatonClient.connect({ connection, namespace: temporal.namespace, taskQueue: queue });
  try {
    for (const r of ensembles) {
      if (!wanted.has(r.name) && !(r.continued && wanted.has(r.continued))) continue;
      const { runId: started } = await baton.start(r.definition(), r.input, {
        runId: `history-${r.name}`,
        ...(r.options && { options: r.options }),
      });
      if (r.approve) {
        while ((await baton.pendingApprovals(started)).length === 0)
          await new Promise((res) => setTimeout(res, 100));
        await baton.approve(started, { by: 'recorder', comment: 'recorded history' });
      }
      const runId = (await r.drive?.(baton, started)) ?? started;
      await baton.result(runId).catch((err: unknown) => {
        if (!r.fails) throw err;
      });
      if (wanted.has(r.name)) await save(baton.temporal, runId, r.name, r.continued !== undefined);
      if (r.continued && wanted.has(r.continued)) await save(baton.temporal, runId, r.continued);
    }
    for (const p of patterns) {
      if (!wanted.has(p.name) && !(p.name === 'examples-supervisor' && wanted.has('supervisor-sub-agent')))
        continue;
      const workflowId = `history-${p.name}`;
      await baton.temporal.workflow
        .execute(p.workflow, { taskQueue: `${queue}-examples`, workflowId, args: [p.input] })
        .catch((err: unknown) => {
          if (!p.fails) throw err;
        });
      if (wanted.has(p.name)) await save(baton.temporal, workflowId, p.name);
      if (p.name === 'examples-supervisor' && wanted.has('supervisor-sub-agent')) {
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
    await fake.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(
      err instanceof Error && !/^refusing|^--/.test(err.message)
        ? err
        : `record-histories: ${(err as Error).message}`,
    );
    process.exit(1);
  });
}
