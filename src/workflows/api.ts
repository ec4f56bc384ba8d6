/**
 * The contract between callers and the run workflow: input, progress, result, and the queries
 * that read them. Safe to import from clients (it defines, it does not run workflow code).
 */
import { defineQuery } from '@temporalio/workflow';
import type { Duration, EnsembleDefinition, Usage } from '../types';

/** The workflow type every Baton run executes. */
export const RUN_WORKFLOW = 'batonRun';

/** Knobs of one run that are not part of the ensemble itself. */
export interface RunOptions {
  /** How soon a model call on a dead worker is noticed and retried elsewhere (default 30s). */
  heartbeatTimeout?: Duration;
  /** Time one model call may take when neither step nor profile says (default 5 minutes). */
  defaultTimeout?: Duration;
}

export interface RunInput {
  definition: EnsembleDefinition;
  input: string;
  options?: RunOptions;
}

export type StepStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'waiting';

export interface StepProgress {
  name: string;
  kind: 'agent' | 'approval' | 'loop';
  status: StepStatus;
  output?: string;
  error?: { type: string; message: string };
  /** Why a step did not run. */
  reason?: string;
  /** Epoch ms of the first model call's start and the last one's end. */
  startedAt?: number;
  endedAt?: number;
  /** Model calls made by this step (a tool-using agent or a fan-out makes several). */
  calls: number;
  /** Attempts of the last call (1 when it succeeded at once). */
  attempts?: number;
  usage: Usage;
  costUsd: number;
  model?: string;
}

export interface RunProgress {
  name: string;
  status: 'running' | 'completed' | 'failed';
  steps: StepProgress[];
  usage: Usage;
  costUsd: number;
  output?: string;
  error?: { step?: string; type: string; message: string };
}

export interface RunResult extends RunProgress {
  status: 'completed';
  output: string;
}

/** Every step's status, output, timing and usage while the run goes on (and after it ended). */
export const progressQuery = defineQuery<RunProgress>('progress');

/** Failure type of a run that failed because a step did; its details carry the RunProgress. */
export const STEP_FAILED = 'StepFailed';
/** Failure type of a run stopped by its budget. */
export const BUDGET_EXCEEDED = 'BudgetExceeded';
