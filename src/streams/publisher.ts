import type { EventBus, NewStreamEvent, StreamEventType } from './events';

type Fields = Omit<NewStreamEvent, 'runId' | 'type' | 'ts' | 'step' | 'attempt' | 'call'>;

/**
 * The events of one model-call attempt, published in order without making the call wait: `emit`
 * queues, and everything queued in one turn of the event loop goes out as one batch. `flush` waits
 * until all of it is stored. A transport error is reported once through `warn` and never fails the
 * call: the stream is a view; the call's result in history is what counts.
 */
export class CallPublisher {
  private queue: NewStreamEvent[] = [];
  private sending: Promise<void> = Promise.resolve();
  private scheduled = false;
  private warned = false;

  constructor(
    private readonly bus: EventBus,
    private readonly runId: string,
    private readonly base: { step?: string; attempt: number; call: string },
    private readonly warn: (message: string) => void = () => {},
  ) {}

  emit(type: StreamEventType, fields: Fields = {}): void {
    this.queue.push({ runId: this.runId, type, ts: Date.now(), ...this.base, ...fields });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  /** A provider's reply delta as a `text.delta` or `tool_call.delta` event. */
  delta(
    d:
      | { type: 'text'; text: string }
      | { type: 'tool_call'; index: number; id?: string; name?: string; arguments: string },
  ): void {
    if (d.type === 'text') this.emit('text.delta', { text: d.text });
    else
      this.emit('tool_call.delta', {
        index: d.index,
        ...(d.id && { toolCallId: d.id }),
        ...(d.name && { name: d.name }),
        arguments: d.arguments,
      });
  }

  /** Resolves once every event emitted so far is stored (or its transport failed). */
  async flush(): Promise<void> {
    this.send();
    await this.sending;
  }

  private send(): void {
    this.scheduled = false;
    if (!this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    this.sending = this.sending.then(() =>
      this.bus.publish(this.runId, batch).catch((err: unknown) => {
        if (this.warned) return;
        this.warned = true;
        this.warn(
          `run ${this.runId}: events of step ${this.base.step ?? this.base.call} could not be published to ${this.bus.kind} (${err instanceof Error ? err.message : String(err)}); the call goes on, its watchers miss them`,
        );
      }),
    );
  }
}
