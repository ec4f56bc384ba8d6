/** Print a run's tokens as they arrive (rich output of `baton run`, `baton status --follow`, `baton demo`). */
import type { BatonClient } from '../client';
import type { StreamEvent } from '../streams';

/**
 * Writes each model call's text as it streams, under a heading per step; a retried attempt is
 * announced and its partial text disowned. Resolves when the run ends or `signal` aborts.
 */
export async function printTokens(
  baton: BatonClient,
  runId: string,
  write: (text: string) => void,
  opts: { signal?: AbortSignal; onEvent?: (ev: StreamEvent) => void } = {},
): Promise<void> {
  let current: string | undefined;
  let midLine = false;
  const newline = () => {
    if (midLine) write('\n');
    midLine = false;
  };
  const heading = (ev: StreamEvent) => {
    const key = `${ev.step ?? ev.call}#${ev.call}`;
    if (key === current) return;
    current = key;
    newline();
    write(
      `── ${ev.step ?? `call ${ev.call}`}${ev.attempt && ev.attempt > 1 ? ` (attempt ${ev.attempt})` : ''}\n`,
    );
  };
  for await (const ev of baton.events(runId, { ...(opts.signal && { signal: opts.signal }) })) {
    opts.onEvent?.(ev);
    switch (ev.type) {
      case 'step.retrying':
        newline();
        write(
          `── ${ev.step ?? `call ${ev.call}`}: attempt ${(ev.attempt ?? 2) - 1} failed, its text above is void; attempt ${ev.attempt} follows\n`,
        );
        current = undefined;
        break;
      case 'text.delta':
        heading(ev);
        write(ev.text ?? '');
        midLine = !(ev.text ?? '').endsWith('\n');
        break;
      case 'tool_call.delta':
        if (ev.name) {
          heading(ev);
          newline();
          write(`→ calls ${ev.name}\n`);
        }
        break;
      case 'step.completed':
      case 'step.failed':
        newline();
        current = undefined;
        break;
      case 'gate.waiting':
        newline();
        write(`⏸ gate '${ev.gate}' waits for a decision (baton approve ${runId} ${ev.gate})\n`);
        break;
      case 'gate.decided':
        newline();
        write(`▶ gate '${ev.gate}' ${ev.decision ?? 'decided'}${ev.by ? ` by ${ev.by}` : ''}\n`);
        break;
      default:
        break;
    }
  }
  newline();
}
