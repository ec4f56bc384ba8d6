/**
 * Script steps (`kind: script`) and the check that runs before a run's first step when the run
 * uses scripts or MCP servers: the worker's config, not the run, decides what may run.
 */
import type { Duration as TemporalDuration } from '@temporalio/common';
import {
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { ScriptActivities } from '../activities/scripts';
import type { WorkerCheckActivities, WorkerCheckRequest } from '../activities/worker-allows';
import type { EnsembleDefinition, ScriptStep, StepDefinition } from '../types';
import type { RunOptions } from './api';
import type { RunState } from './run-state';
import { renderTemplate, type TemplateScope } from './template';

const NOT_ALLOWED_BY_WORKER = 'NotAllowedByWorker';
const SCRIPT_FAILED = 'ScriptFailed';

const checks = proxyLocalActivities<WorkerCheckActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [NOT_ALLOWED_BY_WORKER] },
});

/** What the worker must allow for this definition; undefined when it uses no script and no MCP server. */
export function workerCheckFor(def: EnsembleDefinition): WorkerCheckRequest | undefined {
  const scripts: WorkerCheckRequest['scripts'] = [];
  const mcpToolServers: NonNullable<WorkerCheckRequest['mcpToolServers']> = [];
  const walk = (steps: StepDefinition[]) => {
    for (const s of steps) {
      if (s.kind === 'script')
        scripts.push({ step: s.name, command: s.command, ...(s.args && { args: s.args }) });
      if (s.kind === 'loop') walk(s.body);
      // A child ensemble's steps run in this run: its scripts are checked with the parent's.
      if (s.kind === 'ensemble') walk(s.definition.steps);
      if (s.kind === 'agent')
        for (const t of s.tools ?? []) {
          const dot = t.name.indexOf('.');
          if (dot > 0) mcpToolServers.push({ step: s.name, server: t.name.slice(0, dot) });
        }
    }
  };
  walk(def.steps);
  const servers = def.mcpServers && Object.keys(def.mcpServers).length ? def.mcpServers : undefined;
  if (!scripts.length && !servers && !mcpToolServers.length) return undefined;
  return {
    scripts,
    ...(servers && { mcpServers: servers }),
    ...(mcpToolServers.length && { mcpToolServers }),
  };
}

/**
 * Ask the worker whether it allows every script and MCP server the run names; throws (failing
 * the run before any step starts) when it does not. Runs without scripts or MCP servers, which
 * every run recorded before these existed is, schedule nothing here, so their histories replay.
 */
export async function checkWorkerAllows(def: EnsembleDefinition): Promise<void> {
  const req = workerCheckFor(def);
  if (req) await checks.checkWorkerAllows(req);
}

/**
 * Run a script step: its input template rendered onto stdin, its parameters as JSON, one activity
 * with the step's timeout (default 5 minutes). An idempotent script (the default) is retried with
 * the same idempotency key (3 attempts, or the step's `retry`); `idempotent: false` gets one attempt.
 */
export async function runScriptStep(
  state: RunState,
  key: string,
  s: ScriptStep,
  scope: TemplateScope,
  options?: RunOptions,
): Promise<string> {
  state.gates.assertRunning(`step '${key}' did not run its script`);
  const idempotencyKey = `${workflowInfo().workflowId}/${key}#${state.nextToolCall(key)}`;
  const once = s.idempotent === false;
  const r = s.retry ?? {};
  const acts = proxyActivities<ScriptActivities>({
    startToCloseTimeout: (s.timeout ?? options?.defaultTimeout ?? '5 minutes') as TemporalDuration,
    heartbeatTimeout: (options?.heartbeatTimeout ?? '30 seconds') as TemporalDuration,
    retry: once
      ? { maximumAttempts: 1 }
      : {
          initialInterval: (r.initialInterval ?? '1 second') as TemporalDuration,
          backoffCoefficient: r.backoffCoefficient ?? 2,
          maximumInterval: (r.maximumInterval ?? '30 seconds') as TemporalDuration,
          maximumAttempts: r.maximumAttempts ?? 3,
          nonRetryableErrorTypes: [NOT_ALLOWED_BY_WORKER],
        },
    summary: `${key}: ${s.command}`,
  });
  try {
    const res = await acts.runScript({
      step: key,
      command: s.command,
      ...(s.args && { args: s.args }),
      ...(s.parameters && { parameters: s.parameters }),
      input: renderTemplate(s.input, scope),
      idempotencyKey,
      ...(s.outputFormat && { outputFormat: s.outputFormat }),
    });
    return res.output;
  } catch (err) {
    if (!once) throw err;
    const cause = (err as { cause?: unknown }).cause ?? err;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw ApplicationFailure.create({
      type: cause instanceof ApplicationFailure && cause.type ? cause.type : SCRIPT_FAILED,
      nonRetryable: true,
      message: `${message} (not run again: the step is idempotent: false; idempotency key ${idempotencyKey})`,
    });
  }
}
