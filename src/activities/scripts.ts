/**
 * Script steps: a command the worker's config allows, run as its own activity with the step's
 * input on stdin. The run names a script; only the worker's operator decides what it runs (its
 * argv, whether extra arguments may follow, which environment variables it gets).
 */
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { keepAlive } from './heartbeat';

/** A script as the worker's config declares it (`scripts: { <name>: { argv, env?, allow_args? } }`). */
export interface ScriptConfig {
  /** The program and its first arguments; never a shell string. */
  argv: string[];
  /** Extra environment variables the script gets (the worker's own environment is not passed on). */
  env?: Record<string, string>;
  /** Whether a run may append `args` to `argv` (default false). */
  allowArgs?: boolean;
  /** Working directory (default: the worker's). */
  cwd?: string;
}

/** One script call, as the workflow asks for it. */
export interface ScriptRequest {
  /** The step, for messages. */
  step: string;
  command: string;
  args?: string[];
  parameters?: Record<string, unknown>;
  /** What goes to stdin. */
  input: string;
  /** The same on every attempt of this step run: `<runId>/<step>#<n>`. */
  idempotencyKey: string;
  outputFormat?: 'text' | 'json';
}

export interface ScriptResult {
  output: string;
  exitCode: number;
}

/** Failure type of a run naming a script (or MCP server) this worker's config does not allow; never retried. */
export const NOT_ALLOWED_BY_WORKER = 'NotAllowedByWorker';
/** Failure type of a script that exited with a non-zero code (or was killed by a signal). */
export const SCRIPT_FAILED = 'ScriptFailed';

/** Variables passed on from the worker's environment to every script: no keys, no tokens. */
export const SCRIPT_BASE_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SYSTEMROOT'] as const;
/** Characters of stderr a failure message keeps (its end, where the reason usually is). */
const STDERR_TAIL = 2000;
/** Stdout above this is refused: a step's output travels in history. */
const MAX_STDOUT = 1_000_000;

/** Why a run may not use a script: undefined when the worker's config allows it as asked. */
export function scriptRefusal(
  scripts: Record<string, ScriptConfig>,
  command: string,
  args: string[] | undefined,
  where: string,
): string | undefined {
  const s = Object.prototype.hasOwnProperty.call(scripts, command) ? scripts[command] : undefined;
  if (!s) {
    const known = Object.keys(scripts);
    return (
      `${where} names script '${command}', which this worker's config does not allow ` +
      `(${known.length ? `it allows: ${known.sort().join(', ')}` : 'it allows no scripts'}). ` +
      `Add it under scripts: in the file given to \`baton worker --config\` (scripts: { ${command}: { argv: [...] } }) and restart the worker.`
    );
  }
  if (args?.length && !s.allowArgs)
    return `${where} passes args to script '${command}', and this worker's config does not let runs add arguments to it (set allow_args: true on its entry to allow that)`;
  return undefined;
}

/** The script activities of a worker: `runScript`. */
export function createScriptActivities(scripts: Record<string, ScriptConfig> = {}, env = process.env) {
  return {
    /**
     * Run one script: argv from the worker's config (+ the run's `args` when allowed), the input
     * on stdin, BATON_PARAMETERS / BATON_STEP / BATON_IDEMPOTENCY_KEY in a minimal environment.
     * Stdout is the output; a non-zero exit fails the attempt with its code and stderr's tail.
     */
    async runScript(req: ScriptRequest): Promise<ScriptResult> {
      const refusal = scriptRefusal(scripts, req.command, req.args, `step '${req.step}'`);
      if (refusal)
        throw ApplicationFailure.create({
          type: NOT_ALLOWED_BY_WORKER,
          nonRetryable: true,
          message: refusal,
        });
      const s = scripts[req.command]!;
      const childEnv: Record<string, string> = {};
      for (const k of SCRIPT_BASE_ENV) if (env[k] !== undefined) childEnv[k] = env[k];
      Object.assign(childEnv, s.env, {
        BATON_PARAMETERS: JSON.stringify(req.parameters ?? {}),
        BATON_STEP: req.step,
        BATON_IDEMPOTENCY_KEY: req.idempotencyKey,
      });
      const ctx = Context.current();
      const stop = keepAlive(ctx);
      try {
        const { code, signal, stdout, stderr } = await run(
          [...s.argv, ...(req.args ?? [])],
          req.input,
          childEnv,
          s.cwd,
          ctx.cancellationSignal,
        );
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        if (code !== 0) {
          const tail = stderr.length > STDERR_TAIL ? `…${stderr.slice(-STDERR_TAIL)}` : stderr;
          throw ApplicationFailure.create({
            type: SCRIPT_FAILED,
            message:
              `script '${req.command}' of step '${req.step}' ${signal ? `was killed by ${signal}` : `exited with code ${code}`}` +
              (tail.trim() ? `; stderr: ${tail.trim()}` : ' (nothing on stderr)'),
            details: [{ exitCode: code, signal }],
          });
        }
        return { output: outputOf(stdout, req.outputFormat), exitCode: 0 };
      } finally {
        stop();
      }
    },
  };
}

/** Stdout as the step's output: text without its final newline, or compact JSON when asked and it parses. */
export function outputOf(stdout: string, format: 'text' | 'json' | undefined): string {
  const text = stdout.replace(/\r?\n$/, '');
  if (format !== 'json') return text;
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}

function run(
  argv: string[],
  input: string,
  env: Record<string, string>,
  cwd: string | undefined,
  signal: AbortSignal,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // No shell: argv goes to execve as it is, so nothing in the input or args is interpreted.
    const child = spawn(argv[0]!, argv.slice(1), {
      env,
      ...(cwd && { cwd }),
      stdio: ['pipe', 'pipe', 'pipe'],
      signal,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    let tooLong = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.length > MAX_STDOUT && !tooLong) {
        tooLong = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL * 2);
    });
    child.on('error', (err) => {
      if (signal.aborted) return resolve({ code: null, signal: 'SIGKILL', stdout, stderr });
      reject(
        ApplicationFailure.create({
          type: SCRIPT_FAILED,
          nonRetryable: true,
          message: `script program '${argv[0]}' could not be started: ${err.message}`,
        }),
      );
    });
    // A script that exits without reading stdin must not fail the call with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('close', (code, sig) => {
      if (tooLong)
        return reject(
          ApplicationFailure.create({
            type: SCRIPT_FAILED,
            nonRetryable: true,
            message: `script '${argv[0]}' wrote more than ${MAX_STDOUT} characters to stdout; a step's output must stay small (write large data elsewhere and output a reference)`,
          }),
        );
      resolve({ code, signal: sig, stdout, stderr });
    });
  });
}

export type ScriptActivities = ReturnType<typeof createScriptActivities>;
