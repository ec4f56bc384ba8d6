/** Helpers for tests that read a run's event stream (docs/streaming.md). */
import type { StreamEvent } from '../../src/streams';

/** `n` distinct words (`w0 w1 …`): a long text whose deltas are easy to tell apart. */
export const words = (n: number, tag: string): string =>
  Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');

/** Every event of a stream until it ends (or `stopAfter` events). */
export async function collect(it: AsyncIterable<StreamEvent>, stopAfter = Infinity): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of it) {
    out.push(ev);
    if (out.length >= stopAfter) break;
  }
  return out;
}

/** The text a client shows: deltas in order, dropping a step's partial text when it retries. */
export function shownText(events: StreamEvent[]): Record<string, string> {
  const text: Record<string, string> = {};
  for (const e of events) {
    const step = e.step ?? '?';
    if (e.type === 'step.retrying' || e.type === 'step.started') text[step] = '';
    if (e.type === 'text.delta') text[step] = (text[step] ?? '') + e.text;
  }
  return text;
}
