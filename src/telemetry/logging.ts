/**
 * Structured logs: one JSON object per line (pino) on standard error, with `level`, `time`,
 * `message`, and the run id (`runId`) where the line belongs to a run.
 */
import type { LogEntry } from '@temporalio/worker';
import type pino from 'pino';

/** BATON_LOG_FORMAT is neither `json` nor `text`; the message names it. */
export class LogSettingsError extends Error {
  override name = 'LogSettingsError';
}

/** The log format BATON_LOG_FORMAT asks for: `json`, or `text` (the default). */
export function logFormatFromEnv(env: NodeJS.ProcessEnv = process.env): 'json' | 'text' {
  const raw = env.BATON_LOG_FORMAT?.trim().toLowerCase();
  if (!raw || raw === 'text') return 'text';
  if (raw === 'json') return 'json';
  throw new LogSettingsError(
    `BATON_LOG_FORMAT=${env.BATON_LOG_FORMAT} is not a log format: give json or text`,
  );
}

/**
 * A log function for the SDK's `DefaultLogger`: pino JSON lines on standard error (written
 * synchronously, so nothing is lost when the process exits). The SDK's `workflowId` (Baton's run
 * id) is given as `runId`.
 */
export function jsonLogFunction(): (entry: LogEntry) => void {
  const logger = jsonLogger();
  return ({ level, message, meta }) => {
    const fields: Record<string, unknown> = { ...meta };
    if (typeof fields.workflowId === 'string' && fields.runId === undefined) fields.runId = fields.workflowId;
    logger[level.toLowerCase() as 'info'](fields, message);
  };
}

let shared: pino.Logger | undefined;

/** The process's JSON logger (pino, synchronous on standard error). */
export function jsonLogger(): pino.Logger {
  // pino is loaded with JSON logs only (BATON_LOG_FORMAT=json), not by every process.
  const { default: pinoLogger } = require('pino') as { default: typeof pino };
  shared ??= pinoLogger(
    {
      level: 'trace',
      base: undefined,
      messageKey: 'message',
      timestamp: pinoLogger.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pinoLogger.destination({ fd: 2, sync: true }),
  );
  return shared;
}

/**
 * A line of a command's own on standard error: `<command>: <message>` as text, or with
 * BATON_LOG_FORMAT=json an info line `{ component: <command>, message }`.
 */
export function commandNote(command: string, message: string, env: NodeJS.ProcessEnv = process.env): void {
  if (logFormatFromEnv(env) === 'json') jsonLogger().info({ component: command }, message);
  else process.stderr.write(`${command}: ${message}\n`);
}
