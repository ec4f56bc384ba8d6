/**
 * Every workflow type the worker registers. Deterministic code only: all I/O happens in
 * activities (src/activities), reached through proxyActivities.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { RunInputActivities } from '../activities/run-input';
import { progressQuery, stepOutputQuery, type RunInput, type RunOptions, type RunResult } from './api';
import { installApprovalHandlers } from './approval';
import { LEAN_STEPS_PATCH, runGraph } from './ensemble';
import { failRun } from './errors';
import { RunState } from './run-state';
import { checkWorkerAllows, workerCheckFor } from './script';

// Input not checked by BatonClient is checked by a local activity (the definition schema is zod,
// kept out of this bundle). Runs that started before checked it in workflow code: a valid input
// added no command there, so they replay without the check (a run that older check refused, at
// once, no longer replays).
const CHECK_INPUT_IN_ACTIVITY_PATCH = 'baton-check-run-input-in-activity';
const inputCheck = proxyLocalActivities<RunInputActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

/** Sub-agents of the supervisor pattern run as this child workflow type. */
export { batonSubAgent } from './patterns/supervisor';

/** Shards of very wide fan-outs run as this child workflow type (docs/scale.md). */
export { batonFanOutShard } from './shards';

/** A long ReAct step's turns, handed off by a run that cannot continue as new (react-child.ts). */
export { batonReactStep } from './react-child';

/** Deletes long-term memories by scope (BatonClient.forgetMemories). */
export { batonForgetMemories } from './memory';

/**
 * One Baton run: interpret the resolved ensemble in `input.definition` over `input.input`.
 * Progress is readable at any time through the `progress` query.
 */
export async function batonRun(input: RunInput): Promise<RunResult> {
  // The same schema clients check with. A hand-written input (`temporal workflow start` without
  // the { definition, input } wrapper) would otherwise fail this workflow task over and over.
  // Input from BatonClient adds no command here.
  const checked = (input as { checked?: unknown } | undefined)?.checked === true;
  const problem =
    !checked && patched(CHECK_INPUT_IN_ACTIVITY_PATCH) ? await inputCheck.checkRunInput(input) : null;
  if (problem !== null) {
    throw ApplicationFailure.create({
      type: 'InvalidDefinition',
      nonRetryable: true,
      message: `the run input cannot run: ${problem}. Expected { "definition": {...}, "input": "..." } (see docs/operations.md)`,
    });
  }
  const def = input.definition;
  // streamRunId is set by a run for its own fan-out shards only: from a caller it would publish this
  // run's tokens into another run's event stream, so a run started from outside never keeps it.
  const options = input.options && withoutStreamRunId(input.options);
  const state = new RunState(def.name, def.budget);
  setHandler(progressQuery, () => state.bounded());
  setHandler(stepOutputQuery, (name) => state.outputOf(name) ?? null);
  installApprovalHandlers(state);

  try {
    // Inside the try: a malformed definition fails the run with a message instead of failing
    // its workflow task over and over.
    state.declare(def.steps);
    if (input.resume) state.restore(input.resume);
    // An empty input takes the definition's default (llm-orc's default_task); no command changes.
    const runInput = input.input === '' && def.defaultInput !== undefined ? def.defaultInput : input.input;
    if (def.mcpServers) state.mcpServers = def.mcpServers;
    // Scripts and MCP servers the worker does not allow fail the run here, before any step. From
    // LEAN_STEPS_PATCH on a run with neither does not await a check that schedules nothing.
    const lean = patched(LEAN_STEPS_PATCH);
    if (!lean || workerCheckFor(def) !== undefined) await checkWorkerAllows(def);
    const outputs = await runGraph(
      { state, input: runInput, run: input, ...(options && { options }) },
      def.steps,
    );
    const outputStep = def.output ?? def.steps[def.steps.length - 1]?.name;
    state.output = outputStep !== undefined ? (outputs[outputStep] ?? '') : '';
    state.status = 'completed';
    // Let a decision handler that is still running finish before the run's result is fixed.
    if (!lean || !allHandlersFinished()) await condition(allHandlersFinished);
    return state.bounded() as RunResult;
  } catch (err) {
    throw failRun(state, err);
  }
}

function withoutStreamRunId(options: RunOptions): RunOptions {
  if (options.streamRunId === undefined) return options;
  const { streamRunId: _ignored, ...rest } = options;
  return rest;
}
