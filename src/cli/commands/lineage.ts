/** `baton replay | retry | fork`: check workflow code against recorded runs, and finish or branch runs. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fetchRunHistory, historyJSON, readHistoryFile, replayHistory } from '../../replay';
import type { RunHandle } from '../../client';
import { connectExisting } from '../connect';
import { BadInputError } from '../exit-codes';
import { resolveInput } from '../input';
import { err, out, usageLine } from '../output';
import { followRun, richStep } from '../watch';
import { loadEnsemble } from './runs';

/** Print the new run's id, or follow it to the end with --follow. */
async function announce(handle: RunHandle, kind: string, from: string, follow: boolean): Promise<void> {
  err(`${kind} of ${from} started as run ${handle.runId}`);
  out(handle.runId);
  if (!follow) return;
  const baton = await connectExisting();
  try {
    const result = await followRun(baton, handle.runId, (s) => err(richStep(s)));
    err(usageLine(result));
  } finally {
    await baton.close();
  }
}

/** Register the lineage commands. */
export function registerLineageCommands(program: Command): void {
  program
    .command('replay')
    .description(
      "Replay a run's history against the current workflow code; report any nondeterminism in plain words",
    )
    .argument('[run]', 'run id (fetched from the server at TEMPORAL_ADDRESS)')
    .option(
      '--history <file>',
      'replay a history JSON file instead (from `temporal workflow show -o json` or --save)',
    )
    .option('--save <file>', 'also write the fetched history to this file')
    .option('--workflows <path>', "your workflows module, if you register your own (default: Baton's)")
    .addHelpText(
      'after',
      '\nExit codes: 0 the code replays the history, 1 it does not (nondeterminism), 2 bad input, 4 the replay could not run (e.g. the workflows module does not bundle)',
    )
    .addOption(new Option('-o, --output <format>', 'rich or json').choices(['rich', 'json']).default('rich'))
    .action(
      async (
        runId: string | undefined,
        o: { history?: string; save?: string; workflows?: string; output: string },
      ) => {
        if (!runId === !o.history)
          throw new BadInputError('give a run id or --history <file>, one of the two');
        if (o.workflows && !existsSync(o.workflows))
          throw new BadInputError(`--workflows ${o.workflows} does not exist`);
        let history;
        if (o.history) {
          try {
            history = readHistoryFile(o.history);
          } catch (e) {
            throw new BadInputError((e as Error).message);
          }
        } else {
          const baton = await connectExisting();
          try {
            history = await fetchRunHistory(baton.temporal, runId!);
          } finally {
            await baton.close();
          }
          if (o.save) writeFileSync(o.save, historyJSON(history));
        }
        const report = await replayHistory(
          history,
          runId,
          o.workflows ? { workflowsPath: resolve(o.workflows) } : {},
        );
        // Exit 1 means drift only: the code no longer follows the history. Anything else that
        // kept the replay from completing (bundling, a throw, the SDK) is an error (exit 4).
        if (!report.ok && !report.nondeterministic) {
          if (o.output === 'json') out(JSON.stringify(report, null, 2));
          throw new Error(`replay could not check the history: ${report.detail}`);
        }
        if (o.output === 'json') out(JSON.stringify(report, null, 2));
        else if (report.ok) out(`ok: ${report.events} events replay against the current code`);
        else err(`replay failed: ${report.problem}`);
        if (!report.ok) process.exitCode = 1;
      },
    );

  program
    .command('retry')
    .description(
      'Finish a failed run in a new run: completed steps are reused, the failed step and what depends on it run',
    )
    .argument('<run>', 'the failed run')
    .option('--ensemble <file>', 'a corrected ensemble (e.g. a changed profile); steps are matched by name')
    .option('--run-id <id>', 'id of the new run (retrying with the same id returns that run)')
    .option(
      '--lineage-budget',
      "count what the earlier runs spent against the new run's budget (default: the new run's budget is its own)",
    )
    .option('--follow', 'follow the new run to its end (needs a worker on the task queue)')
    .option(
      '--completed <step=output>',
      'count a top-level step as completed with this output, not run again (an operator who checked its effect happened; repeatable)',
      collectCompleted,
      {},
    )
    .action(async (runId: string, o: RetryFlags) => {
      const definition = o.ensemble ? loadEnsemble(o.ensemble) : undefined;
      const baton = await connectExisting();
      let handle: RunHandle;
      try {
        handle = await baton.retry(runId, {
          ...(definition && { definition }),
          ...(o.runId && { runId: o.runId }),
          ...(Object.keys(o.completed).length > 0 && { completed: o.completed }),
          ...(o.lineageBudget && { lineageBudget: true }),
        });
      } finally {
        await baton.close();
      }
      await announce(handle, 'retry', runId, Boolean(o.follow));
    });

  program
    .command('fork')
    .description(
      'Run again from one step of an earlier run, with changed input, prompt or model; upstream steps are reused',
    )
    .argument('<run>', 'the run to fork')
    .requiredOption('--from <step>', 'the step to run again (with everything downstream of it)')
    .option('--input <text>', 'a new run input')
    .option('--input-file <file>', 'read the new run input from a file')
    .option('--prompt <template>', "replace the step's prompt")
    .option('--system <text>', "replace the step's system prompt")
    .option('--profile <name>', 'run the step on another model profile')
    .option('--run-id <id>', 'id of the new run')
    .option(
      '--lineage-budget',
      "count what the earlier runs spent against the new run's budget (default: the new run's budget is its own)",
    )
    .option('--follow', 'follow the new run to its end (needs a worker on the task queue)')
    .action(
      async (
        runId: string,
        o: {
          from: string;
          input?: string;
          inputFile?: string;
          prompt?: string;
          system?: string;
          profile?: string;
          runId?: string;
          follow?: boolean;
          lineageBudget?: boolean;
        },
      ) => {
        const newInput =
          o.input !== undefined || o.inputFile !== undefined
            ? await resolveInput(o.input, o.inputFile)
            : undefined;
        const overrides = {
          ...(o.prompt !== undefined && { prompt: o.prompt }),
          ...(o.system !== undefined && { system: o.system }),
          ...(o.profile !== undefined && { profile: o.profile }),
        };
        const baton = await connectExisting();
        let handle: RunHandle;
        try {
          handle = await baton.fork(runId, {
            fromStep: o.from,
            overrides,
            ...(newInput !== undefined && { input: newInput }),
            ...(o.runId && { runId: o.runId }),
            ...(o.lineageBudget && { lineageBudget: true }),
          });
        } finally {
          await baton.close();
        }
        await announce(handle, 'fork', runId, Boolean(o.follow));
      },
    );
}

interface RetryFlags {
  ensemble?: string;
  runId?: string;
  follow?: boolean;
  completed: Record<string, string>;
  lineageBudget?: boolean;
}

/** `--completed step=output`, repeatable, into `{ step: output }`. */
function collectCompleted(value: string, into: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0)
    throw new InvalidArgumentError(
      `expected <step>=<output>, e.g. --completed pay='Paid once (checked)'; got '${value}'`,
    );
  return { ...into, [value.slice(0, eq)]: value.slice(eq + 1) };
}
