/** `baton eval`: score an ensemble on a dataset, or replay recorded runs at zero cost for unchanged steps. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { findConfigDirs, loadConfig, missingKeysMessage } from '../../config';
import { resolveProfile } from '../../config/profiles';
import { parseDataset } from '../../evals/dataset';
import {
  asEvalReport,
  compareReports,
  formatReplay,
  formatReport,
  replayEval,
  runEval,
  type EvalReport,
} from '../../evals/eval';
import type { EnsembleDefinition } from '../../types';
import { BadInputError } from '../exit-codes';
import { CommandSession } from '../lifecycle';
import { err, out } from '../output';
import { loadToolsModule } from '../tools-module';
import { loadEnsemble } from './runs';

/** Some cases failed, or the pass rate is below --min-pass-rate (exit 1). */
export class EvalFailedError extends Error {
  override name = 'EvalFailedError';
}

interface EvalFlags {
  dataset?: string;
  replay?: string[];
  json?: boolean;
  out?: string;
  compare?: string;
  judge?: string;
  concurrency: string;
  maxCostUsd?: string;
  minPassRate?: string;
  localWorker?: boolean;
  tools?: string;
}

function positive(flag: string, v: string | undefined, int: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n)))
    throw new BadInputError(`${flag} ${v} is not a positive ${int ? 'whole ' : ''}number`);
  return n;
}

function readJson(file: string, flag: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BadInputError(`${flag} ${file}: ${(e as Error).message}`);
  }
}

async function evalCommand(ensemble: string | undefined, f: EvalFlags): Promise<void> {
  // Everything the user gave is checked before anything starts.
  const concurrency = positive('--concurrency', f.concurrency, true)!;
  const maxCostUsd = positive('--max-cost-usd', f.maxCostUsd, false);
  const minPassRate = f.minPassRate === undefined ? 1 : Number(f.minPassRate);
  if (!(minPassRate >= 0 && minPassRate <= 1))
    throw new BadInputError(`--min-pass-rate ${f.minPassRate} is not a number from 0 to 1`);
  const replay = f.replay !== undefined;
  if (replay && f.dataset)
    throw new BadInputError(
      '--replay and --dataset do not go together: replay re-runs recorded runs with their own inputs',
    );
  if (!replay && !f.dataset)
    throw new BadInputError(
      'name a dataset (--dataset cases.jsonl) or runs to replay (--replay <runIds...>)',
    );
  if (!replay && !ensemble)
    throw new BadInputError('name the ensemble to evaluate: baton eval <ensemble> --dataset cases.jsonl');
  if (replay && f.replay!.length === 0) throw new BadInputError('--replay needs at least one run id');
  const tools = loadToolsModule(f.tools ?? process.env.BATON_TOOLS);
  const definition: EnsembleDefinition | undefined = ensemble
    ? loadEnsemble(ensemble, tools.length ? tools.map((t) => t.name) : undefined)
    : undefined;
  let cases;
  if (f.dataset) {
    let text: string;
    try {
      text = readFileSync(f.dataset, 'utf8');
    } catch (e) {
      throw new BadInputError(`--dataset ${f.dataset}: ${(e as Error).message}`);
    }
    try {
      cases = parseDataset(text, f.dataset);
    } catch (e) {
      throw new BadInputError((e as Error).message);
    }
  }
  const previous = f.compare ? readJson(f.compare, '--compare') : undefined;
  if (previous !== undefined) {
    try {
      asEvalReport(previous);
    } catch (e) {
      throw new BadInputError(`--compare ${f.compare}: ${(e as Error).message}`);
    }
  }
  const judge = f.judge
    ? resolveProfile(f.judge, loadConfig(findConfigDirs()).profiles, '--judge')
    : undefined;
  if (cases?.some((c) => c.rubric) && !judge)
    throw new BadInputError(
      `${f.dataset}: case '${cases.find((c) => c.rubric)!.id}' has a rubric: name a judge profile with --judge <profile>`,
    );

  const external = Boolean(process.env.TEMPORAL_ADDRESS);
  const localWorker = f.localWorker ?? !external;
  if (localWorker && definition) {
    const missing = missingKeysMessage(definition, process.env);
    if (missing) throw new BadInputError(missing);
  }
  const session = new CommandSession();
  const until = <T>(p: Promise<T>): Promise<T> => session.until(p);
  try {
    // With a worker of this process, the client is made on its connection: cases start eagerly.
    const baton = await session.connect({ external, log: err, ...(localWorker && { worker: { tools } }) });
    const report = async (r: object, text: string) => {
      if (f.out) writeFileSync(f.out, `${JSON.stringify(r, null, 2)}\n`);
      out(f.json ? JSON.stringify(r, null, 2) : text);
    };
    if (replay) {
      const r = await until(
        replayEval(baton, f.replay!, {
          concurrency,
          ...(definition && { definition }),
          onRun: (x) => {
            if (!f.json) err(`${x.recordedRunId}: ${x.status} (${x.liveCalls} live model calls)`);
          },
        }),
      );
      await report(r, formatReplay(r));
      if (r.summary.errors)
        throw new EvalFailedError(`${r.summary.errors} of ${r.summary.runs} replayed runs failed`);
      return;
    }
    const r: EvalReport = await until(
      runEval(baton, definition!, cases!, {
        concurrency,
        ...(maxCostUsd !== undefined && { maxCostUsd }),
        ...(judge && { judge }),
        onCase: (c) => {
          if (!f.json) err(`${c.id}: ${c.status}`);
        },
      }),
    );
    if (previous !== undefined) r.comparison = compareReports(r, previous);
    await report(r, formatReport(r));
    if (r.summary.passRate < minPassRate)
      throw new EvalFailedError(
        `pass rate ${(r.summary.passRate * 100).toFixed(1)}% is below ${(minPassRate * 100).toFixed(1)}% (${r.summary.cases - r.summary.passed} of ${r.summary.cases} cases did not pass)`,
      );
  } finally {
    await session.close();
  }
}

/** Register `baton eval`. */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(
      'Score an ensemble on a dataset (each case a durable run), or replay recorded runs answering unchanged model requests from their history',
    )
    .argument(
      '[ensemble]',
      "ensemble YAML file or name (with --replay: the changed ensemble; default: each run's own)",
    )
    .option(
      '--dataset <file>',
      'JSONL cases: {"id", "input", "assert": [...], "rubric": "..."} (docs/evals.md)',
    )
    .option('--replay <runIds...>', 're-run these recorded runs; unchanged model requests cost nothing')
    .option('--json', 'print the report as JSON')
    .option('--out <file>', 'also write the JSON report to this file (for a later --compare)')
    .option('--compare <file>', 'compare with an earlier report (--out or --json of a previous eval)')
    .option('--judge <profile>', 'model profile that grades rubrics')
    .option('--concurrency <n>', 'cases running at once', '4')
    .option(
      '--max-cost-usd <n>',
      "each case's run may spend at most this (with the ensemble's own budget, the lower)",
    )
    .option(
      '--min-pass-rate <0..1>',
      'exit 1 when the pass rate is below this (default 1: every case must pass)',
    )
    .option('--local-worker', 'run a worker inside this command (default when TEMPORAL_ADDRESS is unset)')
    .option('--no-local-worker', 'rely on workers elsewhere (default when TEMPORAL_ADDRESS is set)')
    .option(
      '--tools <module>',
      'register the tools this module exports on the local worker (default: BATON_TOOLS)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  baton eval triage --dataset cases.jsonl --out today.json --compare yesterday.json\n  baton eval triage --replay order-41 order-42   # after editing a prompt: only changed steps call the model',
    )
    .action(evalCommand);
}
