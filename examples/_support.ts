/**
 * What every example shares: a Temporal server (started if none is configured), a worker in
 * this process that registers examples/workflows.ts and the example tools, a way to run one
 * workflow and print its steps and usage, and a clean shutdown.
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { BUILTIN_PROFILES } from '../src/config/profiles';
import { acquireTemporal } from '../src/server';
import type { ModelProfile } from '../src/types';
import { createWorker } from '../src/worker';
import type { RunProgress, StepProgress } from '../src/workflows/api';
import type { PatternRunResult } from '../src/workflows/patterns';
import { exampleTools } from './tools';

export const log = (line = '') => process.stdout.write(`${line}\n`);

/** The model the examples use: a real one when a key is set, else the offline provider (said so). */
export function exampleProfile(env: NodeJS.ProcessEnv = process.env): ModelProfile {
  if (env.OPENAI_API_KEY) {
    log('model: OPENAI_API_KEY is set, so the example calls OpenAI (gpt-4o-mini).');
    return BUILTIN_PROFILES['gpt-4o-mini']!;
  }
  if (env.ANTHROPIC_API_KEY) {
    log('model: ANTHROPIC_API_KEY is set, so the example calls Anthropic (claude-haiku).');
    return BUILTIN_PROFILES['claude-haiku']!;
  }
  log('model: no OPENAI_API_KEY or ANTHROPIC_API_KEY set, so the example runs on the offline provider');
  log('       (deterministic stand-in answers, no network, no cost; token counts are rough but real).');
  return BUILTIN_PROFILES.offline!;
}

export interface Example {
  profile: ModelProfile;
  /** Run one workflow of examples/workflows.ts to its end and return its result. */
  run: <T>(workflow: string, input: unknown) => Promise<PatternRunResult<T>>;
  /** The Temporal client, to look at runs (children, history). */
  client: Client;
}

let seq = 0;

/** Start a server, a worker and a client; run `body`; shut everything down, even on failure. */
export async function withExample(body: (ex: Example) => Promise<void>): Promise<void> {
  const profile = exampleProfile();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const temporal = await acquireTemporal({ log: (l) => log(`temporal: ${l}`) });
  log(
    `temporal: ${temporal.source === 'env' ? `the cluster at ${temporal.address}` : `a dev server at ${temporal.address}`}`,
  );
  const nativeConnection = await NativeConnection.connect(temporal.connectionOptions);
  const taskQueue = `baton-examples-${process.pid}`;
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: temporal.namespace,
    taskQueue,
    workflowsPath: require.resolve('./workflows'),
    tools: exampleTools,
  });
  const running = worker.run();
  const connection = await Connection.connect(temporal.connectionOptions);
  const client = new Client({ connection, namespace: temporal.namespace });
  try {
    await body({
      profile,
      client,
      run: async <T>(workflow: string, input: unknown) => {
        const workflowId = `example-${workflow}-${Date.now()}-${++seq}`;
        log(`\nrun ${workflowId} (${workflow})`);
        try {
          return (await client.workflow.execute(workflow, {
            taskQueue,
            workflowId,
            args: [input],
          })) as PatternRunResult<T>;
        } catch (err) {
          const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
          if (cause instanceof ApplicationFailure && cause.details?.[0])
            printRun(cause.details[0] as RunProgress);
          throw err;
        }
      },
    });
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
    await temporal.stop();
  }
}

/** Shorten a text to one terminal line. */
export function preview(text: string, max = 110): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

const tokens = (u: { inputTokens: number; outputTokens: number }) =>
  `${u.inputTokens} in / ${u.outputTokens} out`;

function stepLine(s: StepProgress): string {
  const icon = { pending: '·', running: '…', completed: '✓', failed: '✗', skipped: '-', waiting: '⏸' }[
    s.status
  ];
  const calls = `${s.calls} model call${s.calls === 1 ? '' : 's'}${s.toolCalls ? `, ${s.toolCalls} tool call${s.toolCalls === 1 ? '' : 's'}` : ''}`;
  let line = `  ${icon} ${s.name.padEnd(22)} ${calls.padEnd(30)} ${tokens(s.usage)}`;
  if (s.output !== undefined) line += `\n      ${preview(s.output)}`;
  if (s.error) line += `\n      ${s.error.type}: ${s.error.message}`;
  return line;
}

/** Print a run's steps, its usage per role (when a pattern names roles) and its totals. */
export function printRun(p: RunProgress): void {
  log(`steps of '${p.name}' (${p.status}):`);
  for (const s of p.steps) log(stepLine(s));
  if (p.roles) {
    log('usage per role:');
    for (const [role, r] of Object.entries(p.roles))
      log(`  ${role.padEnd(12)} ${String(r.calls).padStart(2)} calls  ${tokens(r.usage)}`);
  }
  log(
    `total: ${tokens(p.usage)} tokens (${p.usage.inputTokens + p.usage.outputTokens}), cost $${p.costUsd.toFixed(6)}`,
  );
  if (p.output !== undefined) log(`output: ${preview(p.output, 300)}`);
}

/** Run `main` as a script: print a failure and exit non-zero. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(
      `example failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
