/** Formatting shared by CLI commands: step tables, usage lines, one-line errors. */
import { Option } from 'commander';
import type { RunProgress, StepProgress } from '../workflows/api';

/** The formats of `-o, --output`. */
export type Output = 'rich' | 'json' | 'text';

/** The `-o, --output` option; each command says what its formats print. */
export const outputOption = (
  description = 'rich (live progress), json (machine-readable), or text (the output only)',
): Option =>
  new Option('-o, --output <format>', description).choices(['rich', 'json', 'text']).default('rich');

/** A line on standard output: results, what a script reads. */
export const out = (s: string): void => void process.stdout.write(`${s}\n`);
/** A line on standard error: progress and notes for a person. */
export const err = (s: string): void => void process.stderr.write(`${s}\n`);

/**
 * A reader that stops early (`baton list -o json | head -c 10`) closes the pipe: the command ends
 * quietly with exit 0, as `cat` and `git log` do, instead of crashing on an unhandled EPIPE. A
 * closed standard error is ignored: notes nobody can read are no reason to stop.
 */
export function endQuietlyOnClosedPipe(
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  const closed = (e: NodeJS.ErrnoException) => e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED';
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (!closed(e)) throw e;
    exit(0);
  });
  stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (!closed(e)) throw e;
  });
}

export const fmtUsd = (n: number) => `$${n.toFixed(n > 0 && n < 0.01 ? 6 : 4)}`;

/** One line per step: status, name, model, tokens, cost, duration. */
export function stepLine(s: StepProgress): string {
  const icon = { pending: '·', running: '…', completed: '✓', failed: '✗', skipped: '-', waiting: '⏸' }[
    s.status
  ];
  const took = s.startedAt !== undefined && s.endedAt !== undefined ? `${s.endedAt - s.startedAt} ms` : '';
  const tokens = s.calls ? `${s.usage.inputTokens} in / ${s.usage.outputTokens} out` : '';
  const parts = [
    `${icon} ${s.name.padEnd(18)}`,
    (s.model ?? '').padEnd(18),
    tokens.padEnd(20),
    s.calls ? fmtUsd(s.costUsd) : '',
    took,
  ];
  let line = parts.join(' ').trimEnd();
  if (s.error) line += `\n    ${s.error.type}: ${s.error.message}`;
  if (s.reason) line += `  (${s.reason})`;
  return line;
}

/** The run's totals. */
export function usageLine(p: RunProgress): string {
  const u = p.usage;
  return `usage: ${u.inputTokens} input tokens (${u.cachedInputTokens} cached), ${u.outputTokens} output tokens, cost ${fmtUsd(p.costUsd)}`;
}

/** Shorten long outputs for a terminal line. */
export function preview(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
