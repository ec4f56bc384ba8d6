/**
 * Evals: run every case of a dataset as a durable Baton run, score the outputs (assertions and a
 * judge model's rubric), report pass rate, cost and latency per case, and compare with an earlier
 * report. Replays: re-run recorded runs against the current definition, answering every unchanged
 * model request from the recorded run's history, so only changed steps call a provider.
 */
import type { History } from '@temporalio/common/lib/proto-utils';
import { BatonClient, RunFailedError } from '../client';
import { decodePayloads } from '../codec';
import { pool } from '../pool';
import type { EnsembleDefinition, ModelProfile, ModelRequest, ModelResponse } from '../types';
import type { RunProgress } from '../workflows/api';
import { modelRequestDigest } from '../workflows/digest';
import { checkAssertion, type CheckResult, type EvalCase } from './dataset';

/** One case's outcome. */
export interface CaseReport {
  id: string;
  input: string;
  runId: string;
  /** `passed`: every check passed; `failed`: a check failed; `error`: the run failed. */
  status: 'passed' | 'failed' | 'error';
  output?: string;
  error?: string;
  checks: CheckResult[];
  /** The run's cost and tokens (the judge's are in judgeCostUsd). */
  costUsd: number;
  tokens: number;
  judgeCostUsd?: number;
  /** From start to result, as this process saw it. */
  latencyMs: number;
}

/** What `baton eval` prints as JSON. */
export interface EvalReport {
  kind: 'baton-eval';
  ensemble: string;
  startedAt: string;
  cases: CaseReport[];
  summary: {
    cases: number;
    passed: number;
    passRate: number;
    costUsd: number;
    tokens: number;
    p50LatencyMs: number;
    maxLatencyMs: number;
  };
  comparison?: Comparison;
}

/** This report against an earlier one, case by case (by id). */
export interface Comparison {
  previousStartedAt?: string;
  previousPassRate: number;
  passRateDelta: number;
  costUsdDelta: number;
  /** Passed before, not now. */
  regressions: string[];
  /** Failed before, pass now. */
  fixed: string[];
  /** Cases in only one of the two reports. */
  added: string[];
  removed: string[];
}

export interface EvalOptions {
  /** Cases running at once (default 4). */
  concurrency?: number;
  /** Each case's run may spend at most this (the lower of this and the ensemble's own budget). */
  maxCostUsd?: number;
  /** The judge for rubrics; required when a case has one. */
  judge?: ModelProfile;
  /** Run ids are `<prefix>-<case id>` (default `eval-<ensemble>-<time>`). */
  runIdPrefix?: string;
  /** Called as each case ends. */
  onCase?: (c: CaseReport) => void;
}

const round = (n: number) => Math.round(n * 1e8) / 1e8;
const tokensOf = (p?: Pick<RunProgress, 'usage'>) => (p ? p.usage.inputTokens + p.usage.outputTokens : 0);

function withBudget(def: EnsembleDefinition, maxCostUsd?: number): EnsembleDefinition {
  if (maxCostUsd === undefined) return def;
  const own = def.budget?.maxCostUsd;
  return {
    ...def,
    budget: { ...def.budget, maxCostUsd: own === undefined ? maxCostUsd : Math.min(own, maxCostUsd) },
  };
}

const safeId = (s: string) => s.replace(/[^A-Za-z0-9._:@=+-]/g, '_').slice(0, 120);

/**
 * Run every case as its own durable run (at most `concurrency` at once), score it, and report.
 *
 * @example const report = await runEval(baton, definition, parseDataset(text, 'cases.jsonl'), { concurrency: 8 });
 */
export async function runEval(
  baton: BatonClient,
  definition: EnsembleDefinition,
  cases: EvalCase[],
  opts: EvalOptions = {},
): Promise<EvalReport> {
  if (cases.some((c) => c.rubric) && !opts.judge)
    throw new Error(
      `case '${cases.find((c) => c.rubric)!.id}' has a rubric: name a judge profile (--judge <profile>)`,
    );
  const startedAt = new Date().toISOString();
  const prefix = opts.runIdPrefix ?? `eval-${safeId(definition.name)}-${Date.now()}`;
  const def = withBudget(definition, opts.maxCostUsd);
  const reports = await pool(cases, opts.concurrency ?? 4, async (c) => {
    const r = await runCase(baton, def, c, `${prefix}-${safeId(c.id)}`, opts);
    opts.onCase?.(r);
    return r;
  });
  return {
    kind: 'baton-eval',
    ensemble: definition.name,
    startedAt,
    cases: reports,
    summary: summarize(reports),
  };
}

async function runCase(
  baton: BatonClient,
  def: EnsembleDefinition,
  c: EvalCase,
  runId: string,
  opts: EvalOptions,
): Promise<CaseReport> {
  const began = Date.now();
  const base = { id: c.id, input: c.input, runId };
  let progress: RunProgress | undefined;
  let output: string;
  try {
    const { runId: id } = await baton.start(def, c.input, { runId });
    const res = await baton.result(id);
    progress = res;
    output = res.output;
  } catch (e) {
    progress = e instanceof RunFailedError ? e.progress : undefined;
    return {
      ...base,
      status: 'error',
      error: (e as Error).message,
      checks: [],
      costUsd: progress?.costUsd ?? 0,
      tokens: tokensOf(progress),
      latencyMs: Date.now() - began,
    };
  }
  const latencyMs = Date.now() - began;
  const checks = c.assert.map((a) => checkAssertion(output, a));
  let judgeCostUsd: number | undefined;
  if (c.rubric) {
    const j = await judge(baton, opts.judge!, c, output, `${runId}-judge`);
    checks.push(j.check);
    judgeCostUsd = j.costUsd;
  }
  return {
    ...base,
    status: checks.every((k) => k.pass) ? 'passed' : 'failed',
    output,
    checks,
    costUsd: progress.costUsd,
    tokens: tokensOf(progress),
    ...(judgeCostUsd !== undefined && { judgeCostUsd }),
    latencyMs,
  };
}

const JUDGE_SCHEMA = {
  type: 'object',
  properties: {
    score: { type: 'number', minimum: 0, maximum: 1 },
    reason: { type: 'string' },
  },
  required: ['score', 'reason'],
  additionalProperties: false,
};

/** The judge's prompt: what it grades and by what; the judge answers `{ score, reason }`. */
export function judgeInput(c: Pick<EvalCase, 'input'>, criteria: string, output: string): string {
  return [
    'Grade the OUTPUT against the CRITERIA. Reply with JSON {"score": <0..1>, "reason": "<one sentence>"}.',
    `CRITERIA:\n${criteria}`,
    `INPUT:\n${c.input}`,
    `OUTPUT:\n${output}`,
  ].join('\n\n');
}

/** A rubric graded by the judge model, itself a durable Baton run (its cost is the judge's). */
async function judge(
  baton: BatonClient,
  profile: ModelProfile,
  c: EvalCase,
  output: string,
  runId: string,
): Promise<{ check: CheckResult; costUsd: number }> {
  const def: EnsembleDefinition = {
    name: 'baton-eval-judge',
    steps: [
      {
        kind: 'agent',
        name: 'judge',
        dependsOn: [],
        profile,
        system: 'You are a strict grader of model outputs.',
        prompt: '{{input}}',
        outputSchema: JUDGE_SCHEMA,
      },
    ],
  } as EnsembleDefinition;
  try {
    const { runId: id } = await baton.start(def, judgeInput(c, c.rubric!.criteria, output), { runId });
    const res = await baton.result(id);
    const v = JSON.parse(res.output) as { score: number; reason: string };
    return {
      check: { type: 'rubric', pass: v.score >= c.rubric!.threshold, score: v.score, detail: v.reason },
      costUsd: res.costUsd,
    };
  } catch (e) {
    const p = e instanceof RunFailedError ? e.progress : undefined;
    return {
      check: { type: 'rubric', pass: false, detail: `the judge failed: ${(e as Error).message}` },
      costUsd: p?.costUsd ?? 0,
    };
  }
}

function summarize(cases: CaseReport[]): EvalReport['summary'] {
  const passed = cases.filter((c) => c.status === 'passed').length;
  const lat = cases.map((c) => c.latencyMs).sort((a, b) => a - b);
  return {
    cases: cases.length,
    passed,
    passRate: cases.length ? passed / cases.length : 0,
    costUsd: round(cases.reduce((s, c) => s + c.costUsd + (c.judgeCostUsd ?? 0), 0)),
    tokens: cases.reduce((s, c) => s + c.tokens, 0),
    p50LatencyMs: lat.length ? lat[Math.floor((lat.length - 1) / 2)]! : 0,
    maxLatencyMs: lat.length ? lat[lat.length - 1]! : 0,
  };
}

/** `value` as an eval report; throws when it is not one (`kind: "baton-eval"` with cases and summary). */
export function asEvalReport(value: unknown): EvalReport {
  const r = value as Partial<EvalReport> | undefined;
  if (r?.kind !== 'baton-eval' || !Array.isArray(r.cases) || !r.summary)
    throw new Error('not a report of `baton eval --json` (kind "baton-eval" with cases and summary)');
  return r as EvalReport;
}

/**
 * This report against an earlier one (by case id): pass-rate and cost change, regressions and fixes.
 * Throws when `previous` is not a `baton eval` report.
 */
export function compareReports(current: EvalReport, previous: unknown): Comparison {
  const prev = asEvalReport(previous);
  const before = new Map(prev.cases.map((c) => [c.id, c]));
  const now = new Map(current.cases.map((c) => [c.id, c]));
  const regressions: string[] = [];
  const fixed: string[] = [];
  for (const [id, c] of now) {
    const b = before.get(id);
    if (!b) continue;
    if (b.status === 'passed' && c.status !== 'passed') regressions.push(id);
    if (b.status !== 'passed' && c.status === 'passed') fixed.push(id);
  }
  return {
    ...(prev.startedAt && { previousStartedAt: prev.startedAt }),
    previousPassRate: prev.summary.passRate,
    passRateDelta: current.summary.passRate - prev.summary.passRate,
    costUsdDelta: round(current.summary.costUsd - prev.summary.costUsd),
    regressions,
    fixed,
    added: [...now.keys()].filter((id) => !before.has(id)),
    removed: [...before.keys()].filter((id) => !now.has(id)),
  };
}

const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
const usd = (n: number) => `$${n.toFixed(n > 0 && n < 0.01 ? 6 : 4)}`;

/** The report as a table for a terminal. */
export function formatReport(r: EvalReport): string {
  const lines = [
    `${'case'.padEnd(16)} ${'result'.padEnd(7)} ${'cost'.padStart(10)} ${'tokens'.padStart(7)} ${'latency'.padStart(9)}  detail`,
  ];
  for (const c of r.cases) {
    const bad = c.checks.filter((k) => !k.pass).map((k) => `${k.type}: ${k.detail ?? 'failed'}`);
    const detail = c.status === 'error' ? (c.error ?? '') : bad.join('; ');
    lines.push(
      `${c.id.slice(0, 16).padEnd(16)} ${(c.status === 'passed' ? 'pass' : c.status === 'failed' ? 'FAIL' : 'ERROR').padEnd(7)} ${usd(c.costUsd + (c.judgeCostUsd ?? 0)).padStart(10)} ${String(c.tokens).padStart(7)} ${`${c.latencyMs} ms`.padStart(9)}  ${detail.replace(/\s+/g, ' ').slice(0, 120)}`,
    );
  }
  const s = r.summary;
  lines.push(
    `pass rate ${pct(s.passRate)} (${s.passed}/${s.cases}), cost ${usd(s.costUsd)}, ${s.tokens} tokens, latency p50 ${s.p50LatencyMs} ms, max ${s.maxLatencyMs} ms`,
  );
  const cmp = r.comparison;
  if (cmp) {
    const sign = (n: number) => (n >= 0 ? '+' : '');
    lines.push(
      `vs previous: pass rate ${pct(cmp.previousPassRate)} -> ${pct(s.passRate)} (${sign(cmp.passRateDelta)}${(cmp.passRateDelta * 100).toFixed(1)} points), cost ${sign(cmp.costUsdDelta)}${usd(cmp.costUsdDelta)}`,
    );
    if (cmp.regressions.length) lines.push(`regressions: ${cmp.regressions.join(', ')}`);
    if (cmp.fixed.length) lines.push(`fixed: ${cmp.fixed.join(', ')}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Replays

/**
 * The model answers a run recorded, by the digest of their request: each completed `callModel`
 * activity of its history (input and result), plus the recorded answers it was itself given (a
 * replay of a replay). Model calls made as local activities are not in this map.
 */
export async function recordedAnswers(
  baton: BatonClient,
  runId: string,
): Promise<Record<string, ModelResponse>> {
  const history: History = await baton.handle(runId).fetchHistory();
  const converter = baton.temporal.options.loadedDataConverter;
  const decode = async (p: unknown) => {
    const [d] = await decodePayloads(converter, [p as never]);
    return converter.payloadConverter.fromPayload(d!);
  };
  const requests = new Map<number, unknown>();
  const answers: Record<string, ModelResponse> = {};
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (started) {
    const input = (await decode(started)) as {
      options?: { recordedAnswers?: Record<string, ModelResponse> };
    };
    Object.assign(answers, input.options?.recordedAnswers ?? {});
  }
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === 'callModel' && s.input?.payloads?.[0])
      requests.set(Number(e.eventId), await decode(s.input.payloads[0]));
    const c = e.activityTaskCompletedEventAttributes;
    if (c?.result?.payloads?.[0] && requests.has(Number(c.scheduledEventId))) {
      // The activity's input also names the step for streamed events; the workflow digests the request without it.
      const { step: _step, ...req } = requests.get(Number(c.scheduledEventId)) as ModelRequest;
      answers[modelRequestDigest(req)] = (await decode(c.result.payloads[0])) as ModelResponse;
    }
  }
  return answers;
}

/** How many model calls a run made through the provider (callModel activities in its history). */
export async function liveModelCalls(baton: BatonClient, runId: string): Promise<number> {
  const history = await baton.handle(runId).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'callModel',
  ).length;
}

/** One replayed run's outcome. */
export interface ReplayCase {
  /** The recorded run. */
  recordedRunId: string;
  /** The new run that replayed it. */
  runId: string;
  status: 'same' | 'changed' | 'error';
  recordedOutput?: string;
  output?: string;
  error?: string;
  /** Model calls answered from the recorded run, and calls made to a provider. */
  recordedCalls: number;
  liveCalls: number;
  costUsd: number;
}

export interface ReplayReport {
  kind: 'baton-eval-replay';
  startedAt: string;
  runs: ReplayCase[];
  summary: {
    runs: number;
    changed: number;
    errors: number;
    recordedCalls: number;
    liveCalls: number;
    costUsd: number;
  };
}

/**
 * Re-run recorded runs with `definition` (default: the one each run recorded) and the same input;
 * every model request equal to a recorded one is answered from the recording (no provider call,
 * no cost), so only changed steps call a provider.
 *
 * @example const r = await replayEval(baton, ['order-42'], { definition: edited });
 */
export async function replayEval(
  baton: BatonClient,
  runIds: string[],
  opts: {
    definition?: EnsembleDefinition;
    concurrency?: number;
    runIdPrefix?: string;
    onRun?: (r: ReplayCase) => void;
  } = {},
): Promise<ReplayReport> {
  const startedAt = new Date().toISOString();
  const prefix = opts.runIdPrefix ?? `eval-replay-${Date.now()}`;
  const runs = await pool(runIds, opts.concurrency ?? 4, async (recordedRunId) => {
    const r = await replayOne(baton, recordedRunId, `${prefix}-${safeId(recordedRunId)}`, opts.definition);
    opts.onRun?.(r);
    return r;
  });
  return {
    kind: 'baton-eval-replay',
    startedAt,
    runs,
    summary: {
      runs: runs.length,
      changed: runs.filter((r) => r.status === 'changed').length,
      errors: runs.filter((r) => r.status === 'error').length,
      recordedCalls: runs.reduce((s, r) => s + r.recordedCalls, 0),
      liveCalls: runs.reduce((s, r) => s + r.liveCalls, 0),
      costUsd: round(runs.reduce((s, r) => s + r.costUsd, 0)),
    },
  };
}

async function replayOne(
  baton: BatonClient,
  recordedRunId: string,
  runId: string,
  definition?: EnsembleDefinition,
): Promise<ReplayCase> {
  const recorded = await baton.runInput(recordedRunId);
  const answers = await recordedAnswers(baton, recordedRunId);
  let recordedOutput: string | undefined;
  try {
    recordedOutput = (await baton.result(recordedRunId)).output;
  } catch {
    // A failed recorded run still has answers to replay; it just has no output to compare with.
  }
  const { recordedAnswers: _old, ...options } = recorded.options ?? {};
  const base = { recordedRunId, runId, ...(recordedOutput !== undefined && { recordedOutput }) };
  let progress: RunProgress | undefined;
  try {
    await baton.start(definition ?? recorded.definition, recorded.input, {
      runId,
      options: { ...options, recordedAnswers: answers },
    });
    const res = await baton.result(runId);
    progress = res;
    const live = await liveModelCalls(baton, runId);
    return {
      ...base,
      status: res.output === recordedOutput ? 'same' : 'changed',
      output: res.output,
      recordedCalls: res.steps.reduce((s, st) => s + st.calls, 0) - live,
      liveCalls: live,
      costUsd: res.costUsd,
    };
  } catch (e) {
    progress = e instanceof RunFailedError ? e.progress : undefined;
    const live = await liveModelCalls(baton, runId).catch(() => 0);
    return {
      ...base,
      status: 'error',
      error: (e as Error).message,
      recordedCalls: Math.max(0, (progress?.steps ?? []).reduce((s, st) => s + st.calls, 0) - live),
      liveCalls: live,
      costUsd: progress?.costUsd ?? 0,
    };
  }
}

/** A replay report as lines for a terminal. */
export function formatReplay(r: ReplayReport): string {
  const lines = [
    `${'recorded run'.padEnd(28)} ${'result'.padEnd(8)} ${'recorded'.padStart(8)} ${'live'.padStart(5)} ${'cost'.padStart(10)}  new run`,
  ];
  for (const x of r.runs)
    lines.push(
      `${x.recordedRunId.slice(0, 28).padEnd(28)} ${x.status.padEnd(8)} ${String(x.recordedCalls).padStart(8)} ${String(x.liveCalls).padStart(5)} ${usd(x.costUsd).padStart(10)}  ${x.runId}${x.error ? `  ${x.error}` : ''}`,
    );
  const s = r.summary;
  lines.push(
    `${s.runs} runs replayed: ${s.changed} changed output, ${s.errors} failed; ${s.recordedCalls} model calls answered from the recording, ${s.liveCalls} made live, cost ${usd(s.costUsd)}`,
  );
  return lines.join('\n');
}
