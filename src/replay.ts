/**
 * Replay a run's recorded history against the current workflow code, and say in plain words
 * where they disagree. A clean replay means running workflows will survive a deploy of this code.
 */
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { dataConverterFromEnv, decodePayloads } from './codec';

export interface ReplayReport {
  workflowId: string;
  ok: boolean;
  /**
   * The code no longer follows the history (a deploy would break running runs). False for other
   * failures: the workflows module does not bundle, the code throws, an SDK error.
   */
  nondeterministic: boolean;
  events: number;
  /** What went wrong, in plain words: which event, which step, what the code did instead. */
  problem?: string;
  /** The SDK's own message, for the record. */
  detail?: string;
}

export interface ReplayOptions {
  /** The workflow code to replay against; default: Baton's own (src/workflows). */
  workflowsPath?: string;
  workflowBundle?: WorkflowBundle;
  /** Decrypts an encrypted history; default: the codec BATON_CODEC_KEYS configures, if set. */
  dataConverter?: DataConverter;
}

type Event = NonNullable<History['events']>[number];

/** The history of a run, as Temporal recorded it. */
export async function fetchRunHistory(client: Client, runId: string): Promise<History> {
  return client.workflow.getHandle(runId).fetchHistory();
}

/** Read a history file: the JSON `temporal workflow show --output json` or `baton replay --save` writes. */
export function readHistoryFile(file: string): History {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read history file ${file}: ${(err as Error).message}`);
  }
  // `temporal workflow show --output json` wraps the events; accept both shapes.
  const events =
    (raw as { events?: unknown }).events ?? (raw as { history?: { events?: unknown } }).history?.events;
  if (!Array.isArray(events))
    throw new Error(`${file} holds no history: expected a JSON object with an "events" array`);
  return historyFromJSON({ events });
}

/** Serialize a history to the JSON that readHistoryFile (and Temporal's own tools) read. */
export function historyJSON(history: History): string {
  return historyToJSON(history);
}

function decodePayloadText(p: { data?: Uint8Array | null } | null | undefined): string | undefined {
  if (!p?.data) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(p.data).toString('utf8'));
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The Baton step an event belongs to: activities carry the step name as their summary. */
export function stepOfEvent(history: History, eventId: number): string | undefined {
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  let e: Event | undefined = byId.get(eventId);
  // Started/completed/failed events point back at their scheduled event.
  const a =
    e?.activityTaskStartedEventAttributes ??
    e?.activityTaskCompletedEventAttributes ??
    e?.activityTaskFailedEventAttributes;
  if (a?.scheduledEventId) e = byId.get(Number(a.scheduledEventId));
  return decodePayloadText(e?.userMetadata?.summary);
}

const EVENT_NAMES: Record<string, string> = {
  ActivityTaskScheduled: 'scheduled a model or tool call',
  TimerStarted: 'started a timer',
  StartChildWorkflowExecutionInitiated: 'started a child workflow',
  MarkerRecorded: 'recorded a marker (patch or local activity)',
  WorkflowExecutionCompleted: 'completed the run',
  WorkflowExecutionFailed: 'failed the run',
  SignalExternalWorkflowExecutionInitiated: 'signalled another workflow',
};

/** Turn the SDK's nondeterminism message into a sentence an operator can act on. */
export function explainNondeterminism(message: string, history: History): string {
  const m = /id:\s*(\d+),\s*(\w+)/.exec(message) ?? /event\s*(?:id)?\s*(\d+)[^A-Za-z]*(\w+)?/i.exec(message);
  if (!m) return `the current workflow code does not follow the recorded history: ${message}`;
  const eventId = Number(m[1]);
  const type = m[2] ?? '';
  const step = stepOfEvent(history, eventId);
  const recorded = EVENT_NAMES[type] ?? type;
  const where = step ? ` (step '${step}')` : '';
  return (
    `at event ${eventId}${where} the run recorded that it ${recorded}, but the current code does something else there. ` +
    'The workflow code changed the order or kind of its commands: guard the change with patched(), or deploy it only to new runs.'
  );
}

/**
 * Replay one history; never throws for a replay failure, returns it as a report. The workflow id
 * defaults to the one the history recorded (child workflow ids derive from it, so it must match).
 */
export async function replayHistory(
  history: History,
  workflowId?: string,
  opts: ReplayOptions = {},
): Promise<ReplayReport> {
  workflowId ??= history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? 'replay';
  const events = history.events?.length ?? 0;
  const source = opts.workflowBundle
    ? { workflowBundle: opts.workflowBundle }
    : { workflowsPath: opts.workflowsPath ?? require.resolve('./workflows') };
  const dataConverter = opts.dataConverter ?? dataConverterFromEnv(process.env);
  try {
    await Worker.runReplayHistory(
      { ...source, ...(dataConverter && { dataConverter }) },
      history,
      workflowId,
    );
    return { workflowId, ok: true, nondeterministic: false, events };
  } catch (err) {
    const detail = (err as Error).message;
    const nondeterministic =
      (err as Error).name === 'DeterminismViolationError' || /nondetermin/i.test(detail);
    return {
      workflowId,
      ok: false,
      nondeterministic,
      events,
      detail,
      problem: nondeterministic
        ? explainNondeterminism(detail, await withReadableSummaries(history, dataConverter))
        : `the replay did not complete: ${detail}`,
    };
  }
}

/** A copy of the history whose activity summaries (step names) are decrypted, for explanations. */
async function withReadableSummaries(history: History, dataConverter?: DataConverter): Promise<History> {
  if (!dataConverter?.payloadCodecs?.length) return history;
  const copy = historyFromJSON(JSON.parse(historyToJSON(history)) as { events: unknown[] });
  for (const e of copy.events ?? []) {
    const summary = e.userMetadata?.summary;
    if (!summary) continue;
    const [decoded] = await decodePayloads(dataConverter, [summary]).catch(() => [summary]);
    e.userMetadata!.summary = decoded!;
  }
  return copy;
}
