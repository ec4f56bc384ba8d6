/**
 * The events a run streams to its watchers, out of band: never in workflow history. Model calls
 * publish text and tool-call deltas and step events from their activity; gate and run-end events
 * are derived by the reading client from the run's state (src/streams/follow.ts).
 */

/** Every event type, in the order a step usually produces them. */
export const STREAM_EVENT_TYPES = [
  'step.started',
  'step.retrying',
  'text.delta',
  'tool_call.delta',
  'step.completed',
  'step.failed',
  'gate.waiting',
  'gate.decided',
  'run.completed',
  'run.failed',
  'run.cancelled',
] as const;

export type StreamEventType = (typeof STREAM_EVENT_TYPES)[number];

/**
 * One event. `id` is an opaque cursor: pass the last one you saw as `after` (or SSE `Last-Event-ID`)
 * to resume right after it. `step` is the model call's step as the Temporal UI names it (`draft`,
 * `review[3]`), `attempt` its attempt (1, 2, ...), `call` the call within the run (one step may
 * make several calls, e.g. an agent's turns).
 */
export interface StreamEvent {
  id: string;
  runId: string;
  type: StreamEventType;
  /** Epoch milliseconds when the event was produced. */
  ts: number;
  step?: string;
  attempt?: number;
  call?: string;
  /** text.delta: the new text. */
  text?: string;
  /** tool_call.delta: which tool call of the reply (0, 1, ...), its id and name when first seen, and a piece of its JSON arguments. */
  index?: number;
  toolCallId?: string;
  name?: string;
  arguments?: string;
  /** step.completed: tokens and dollars of the call. */
  usage?: { inputTokens: number; outputTokens: number; cachedInputTokens: number };
  costUsd?: number;
  finishReason?: string;
  /** step.failed, run.failed: what went wrong. */
  error?: { type: string; message: string };
  /** gate.waiting, gate.decided: the gate. */
  gate?: string;
  kind?: string;
  summary?: string;
  deadline?: string;
  /** gate.decided: approved or rejected, and by whom. */
  decision?: string;
  by?: string;
  /** run.completed: the run's output (first 2,000 characters). */
  output?: string;
}

/** An event before the transport gave it its id. */
export type NewStreamEvent = Omit<StreamEvent, 'id'>;

/**
 * Where events go and come from. Implementations: {@link MemoryEventBus} (one process) and
 * {@link RedisEventBus} (Redis Streams, many processes).
 */
export interface EventBus {
  /** Appends events of one run, in order. Resolves once they are stored (readers can see them). */
  publish(runId: string, events: NewStreamEvent[]): Promise<void>;
  /**
   * Appends an event unless one with this `key` was appended to the run's stream before (several
   * readers may see the same gate open or the run end; the stream records it once).
   */
  publishOnce(runId: string, key: string, event: NewStreamEvent): Promise<void>;
  /**
   * Events of `runId` after cursor `after` ('0' or undefined: from the start), at most waiting
   * `blockMs` for the first one; [] when none came (or `signal` aborted).
   */
  read(
    runId: string,
    after: string | undefined,
    opts: { blockMs: number; signal?: AbortSignal; count?: number },
  ): Promise<StreamEvent[]>;
  /** Lets go of connections. */
  close(): Promise<void>;
  /** 'memory' or 'redis', for logs and docs. */
  readonly kind: string;
}

/** How long a run's events are kept after its last event, and how many at most (trimmed oldest first). */
export interface Retention {
  ttlSeconds: number;
  maxLen: number;
}

export const DEFAULT_RETENTION: Retention = { ttlSeconds: 24 * 3600, maxLen: 50_000 };
