/** `baton import llm-orc`: convert llm-orc ensembles and profiles into Baton YAML, with a report. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { formatReport, importLlmOrc, writeImport } from '../../config/llm-orc';
import { BadInputError } from '../exit-codes';
import { err, out, outputOption, type Output } from '../output';

const HELP = `
What it reads:
  <path> is an llm-orc ensemble file, an ensembles/ directory, a .llm-orc/ directory, or a project
  holding .llm-orc/. Profiles come from model_profiles in .llm-orc/config.yaml. A single file brings
  the ensembles it runs (ensemble: <name>) along.

What it writes (to --out, a Baton config directory; --out .baton makes them \`baton run <name>\`-able):
  config.yaml             the converted profiles (profiles:)
  ensembles/**.yaml       one Baton ensemble per llm-orc ensemble, same layout
  worker-scripts.yaml     the scripts: section a worker config needs for script agents
  Existing files of the same name are replaced; nothing else in --out is touched.

The report lists every field, with file and path, as
  mapped       the same meaning in Baton
  changed      a Baton field with a different form or meaning (the line says how)
  unsupported  no Baton counterpart: left out (the ensemble is not converted when it cannot run without it)
Field mapping and reasons: docs/ensembles.md, "llm-orc ensembles".

Exit code 0 when every ensemble converted, 2 when one could not be (the others are still written).

\`baton run <llm-orc file>\` converts in memory and runs when nothing it uses is unsupported
(--verbose prints this report on stderr).

Examples:
  baton import llm-orc . --out .baton
  baton import llm-orc .llm-orc/ensembles/routing-demo.yaml --out converted -o json`;

export function registerImportCommands(program: Command): void {
  const group = program
    .command('import')
    .description('Convert ensembles from other tools into Baton YAML (llm-orc)');
  group
    .command('llm-orc')
    .description('Convert llm-orc ensembles and model profiles into Baton YAML, with a report of every field')
    .argument(
      '<path>',
      'an llm-orc ensemble file, ensembles/ directory, .llm-orc/ directory, or a project holding one',
    )
    .requiredOption('--out <dir>', 'where to write config.yaml, ensembles/ and worker-scripts.yaml')
    .option('--dry-run', 'print the report; write nothing')
    .addOption(
      outputOption('rich or text (the report as lines), or json (report and files as one JSON object)'),
    )
    .addHelpText('after', HELP)
    .action((target: string, o: { out: string; dryRun?: boolean; output: Output }) => {
      if (!fs.existsSync(target))
        throw new BadInputError(`llm-orc import: ${path.resolve(target)} does not exist`);
      const imp = importLlmOrc(target);
      if (imp.ensembles.length === 0)
        throw new BadInputError(
          `llm-orc import: no ensembles found at ${path.resolve(target)} (expected .llm-orc/ensembles/*.yaml)`,
        );
      const written = o.dryRun ? { files: [] } : writeImport(imp, o.out);
      if (o.output === 'json')
        out(
          JSON.stringify(
            {
              notes: imp.notes,
              ensembles: imp.ensembles.map((e) => ({
                source: e.source,
                name: e.name,
                converted: Boolean(e.baton),
                ...(e.refused && { refused: e.refused }),
              })),
              profiles: Object.keys(imp.profiles),
              scripts: imp.scripts,
              written: written.files,
            },
            null,
            2,
          ),
        );
      else out(formatReport(imp, written));
      const refused = imp.ensembles.filter((e) => !e.baton);
      if (refused.length) {
        if (o.output !== 'json')
          err(
            `baton: ${refused.length} of ${imp.ensembles.length} llm-orc ensembles could not be converted (see above)`,
          );
        process.exitCode = 2;
      }
    });
}
