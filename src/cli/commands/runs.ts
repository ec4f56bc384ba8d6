/** `baton validate | run | status | result | list | cancel`: ensembles and runs from the command line. */
import { Option, type Command } from 'commander';
import {
  allowancesFor,
  displayEndpoint,
  EndpointPolicy,
  loadWorkerConfig,
  type AllowedEndpoint,
} from '../../activities/endpoints';
import { BatonClient, RunFailedError } from '../../client';
import { isLlmOrcFile, loadLlmOrcEnsemble } from '../../config/llm-orc';
import {
  agentProfiles,
  findConfigDirs,
  findEnsemble,
  loadEnsembleFile,
  missingKeysMessage,
} from '../../config';
import type { EnsembleDefinition } from '../../types';
import { workerSettingsFromEnv } from '../../worker';
import type { RunProgress } from '../../workflows/api';
import { connectExisting } from '../connect';
import { BadInputError } from '../exit-codes';
import { resolveInput } from '../input';
import { CommandSession, InterruptedError } from '../lifecycle';
import { loadToolsModule } from '../tools-module';
import { loadWorkerResources } from '../../activities/worker-allows';
import { err, out, outputOption, preview, stepLine, usageLine, type Output } from '../output';
import { followRun, richStep } from '../watch';
import { printTokens } from '../tokens';
import { decisionLine, pendingLines } from './approvals';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Load an ensemble by path or by name from .baton/ensembles or ~/.config/baton/ensembles. An
 * llm-orc file (under .llm-orc/, or of llm-orc's shape) is converted first; `report` gets the
 * conversion report.
 */
export function loadEnsemble(
  nameOrPath: string,
  knownTools?: string[],
  report?: (text: string) => void,
): EnsembleDefinition {
  const dirs = findConfigDirs();
  let file: string;
  try {
    file = findEnsemble(nameOrPath, dirs);
  } catch (e) {
    throw new BadInputError((e as Error).message);
  }
  const opts = { configDirs: dirs, ...(knownTools && { knownTools }) };
  if (isLlmOrcFile(file)) {
    const loaded = loadLlmOrcEnsemble(file, { load: opts });
    report?.(`llm-orc: converted ${file}\n${loaded.report}`);
    return loaded.definition;
  }
  return loadEnsembleFile(file, opts);
}

function printProgress(runId: string, p: RunProgress, format: Output): void {
  if (format === 'json') return out(JSON.stringify(p, null, 2));
  if (format === 'text') return out(p.output ?? '');
  out(`${p.name}: ${p.status}`);
  for (const s of p.steps) out(stepLine(s));
  for (const d of p.decisions ?? []) out(`${d.outcome === 'approved' ? '✓' : '✗'} ${decisionLine(runId, d)}`);
  const waiting = pendingLines(p);
  for (const line of waiting) out(line);
  if (waiting.length)
    out(
      `decide with: baton approve ${runId} [gate] --comment "..."  |  baton reject ${runId} [gate] --comment "..."`,
    );
  if (p.error)
    out(`error${p.error.step ? ` in step '${p.error.step}'` : ''}: ${p.error.type}: ${p.error.message}`);
  if (p.output !== undefined) out(`output: ${preview(p.output, 400)}`);
  out(usageLine(p));
}

interface RunFlags {
  verbose?: boolean;
  tools?: string;
  inputFile?: string;
  output: Output;
  runId?: string;
  detach?: boolean;
  localWorker?: boolean;
  taskQueue?: string;
  workerConfig?: string;
  memoryUser?: string;
  memoryThread?: string;
  tokens?: boolean;
}

/** Warn when nothing polls the task queue: the run would wait for a worker that never comes. */
async function warnWithoutWorkers(baton: BatonClient): Promise<void> {
  try {
    const r = await baton.temporal.workflowService.describeTaskQueue({
      namespace: baton.temporal.options.namespace,
      taskQueue: { name: baton.taskQueue },
    });
    if ((r.pollers ?? []).length === 0) {
      err(
        `warning: no worker polls task queue '${baton.taskQueue}'; the run waits until one does (start one with \`baton worker\`, or pass --local-worker)`,
      );
    }
  } catch {
    // Advisory only.
  }
}

/**
 * The worker `baton run` starts is the user's own: it may call what their ensemble names, beyond
 * what the environment allows (a shared worker would refuse it). Says so once, on stderr.
 */
function localAllowances(definition: EnsembleDefinition, ensemble: string): AllowedEndpoint[] {
  const policy = EndpointPolicy.fromEnv(process.env); // a malformed BATON_ALLOWED_ENDPOINTS is refused here (exit 2)
  const named = policy.missing(
    allowancesFor(
      agentProfiles(definition).map((a) => a.profile),
      process.env,
      `ensemble ${ensemble}`,
    ),
  );
  const seen = new Set<string>();
  const lines = named
    .map(
      (n) =>
        `${n.keys.length ? n.keys.join(', ') : 'no key'} to ${displayEndpoint(n.url)} (profile '${n.profile}')`,
    )
    .filter((l) => !seen.has(l) && seen.add(l));
  if (lines.length)
    err(
      `baton: the local worker allows what this ensemble names: ${lines.join('; ')}. ` +
        'A shared worker (`baton worker`) refuses these unless its operator allows them (BATON_ALLOWED_ENDPOINTS; see docs/security.md).',
    );
  return named;
}

async function runCommand(ensemble: string, inputArg: string | undefined, f: RunFlags): Promise<void> {
  // Everything the user gave is checked before anything starts.
  const tools = loadToolsModule(f.tools ?? process.env.BATON_TOOLS);
  const definition = loadEnsemble(
    ensemble,
    tools.length ? tools.map((t) => t.name) : undefined,
    f.verbose ? err : undefined,
  );
  const input = await resolveInput(inputArg, f.inputFile);
  const external = Boolean(process.env.TEMPORAL_ADDRESS);
  const localWorker = f.localWorker ?? !external;
  let allowedEndpoints: AllowedEndpoint[] = [];
  if (f.detach && f.localWorker) {
    throw new BadInputError(
      '--detach and --local-worker do not go together: the local worker would stop as soon as the run started. Run a worker with `baton worker`, or leave out --detach',
    );
  }
  if (f.detach && !external) {
    throw new BadInputError(
      '--detach needs a Temporal server that outlives this command: run `baton server` and set TEMPORAL_ADDRESS',
    );
  }
  if (localWorker) {
    // The worker is ours, so its environment is this one: refuse a run it could not make.
    workerSettingsFromEnv();
    const missing = missingKeysMessage(definition, process.env);
    if (missing) throw new BadInputError(missing);
    allowedEndpoints = localAllowances(definition, ensemble);
  }
  // The local worker's own config file: scripts and MCP servers the run may use (docs/tools.md).
  if (f.workerConfig && !localWorker)
    throw new BadInputError('--worker-config configures the local worker; it needs --local-worker');
  const resources = f.workerConfig ? loadWorkerResources(f.workerConfig) : undefined;
  if (f.workerConfig)
    allowedEndpoints = [...allowedEndpoints, ...loadWorkerConfig(f.workerConfig).allowedEndpoints];

  // From here on, Ctrl-C stops following, and the finally block lets go of what was opened.
  const session = new CommandSession();
  let runId: string | undefined;
  const until = <T>(p: Promise<T>): Promise<T> => session.until(p);
  try {
    const baton = await session.connect({
      external,
      ...(f.taskQueue && { taskQueue: f.taskQueue }),
      log: err,
      onDevServer: (temporal) => {
        if (f.output === 'rich')
          err(
            `temporal: dev server for this run at ${temporal.address} (its runs end with this command; \`baton server\` keeps them)`,
          );
      },
      // A worker of this process, with the client on its connection: the run starts eagerly.
      ...(localWorker && {
        worker: {
          tools,
          allowedEndpoints,
          ...(resources && { scripts: resources.scripts, mcpServers: resources.mcpServers }),
        },
      }),
    });
    if (!localWorker) await warnWithoutWorkers(baton);

    const handle = await until(
      baton.start(definition, input, {
        ...(f.runId && { runId: f.runId }),
        ...((f.memoryUser || f.memoryThread) && {
          options: {
            memory: {
              ...(f.memoryUser && { user: f.memoryUser }),
              ...(f.memoryThread && { thread: f.memoryThread }),
            },
          },
        }),
        // Runs record who started them; locally that is the login name.
        ...(process.env.USER && { startedBy: process.env.USER }),
      }),
    );
    runId = handle.runId;
    if (f.output === 'rich')
      err(
        `run ${runId} ${handle.started ? 'started' : 'already exists; following it'}: ${definition.name}, ${plural(definition.steps.length, 'step')}`,
      );
    if (f.detach)
      return out(f.output === 'json' ? JSON.stringify({ runId, started: handle.started }) : runId);

    // Rich output on a terminal (or --tokens) prints each model call's text as it streams.
    const tokens = f.tokens ?? (f.output === 'rich' && process.stderr.isTTY === true);
    const streaming = tokens
      ? printTokens(baton, runId, (t) => void process.stderr.write(t), { signal: session.trap.signal }).catch(
          (e: unknown) => err(`(token stream stopped: ${e instanceof Error ? e.message : String(e)})`),
        )
      : undefined;
    try {
      const result = await until(
        followRun(
          baton,
          runId,
          (s) => {
            // With tokens shown, a completed step gets its status line only (its text just streamed).
            if (f.output === 'rich') err(tokens ? stepLine(s) : richStep(s));
          },
          { signal: session.trap.signal },
        ),
      );
      await streaming;
      if (f.output === 'json') out(JSON.stringify({ runId, ...result }, null, 2));
      else if (f.output === 'text') out(result.output);
      else {
        out(result.output);
        err(`${usageLine(result)}, ${result.steps.filter((s) => s.calls).length} steps called a model`);
      }
    } catch (e) {
      if (e instanceof RunFailedError && f.output === 'json')
        out(JSON.stringify({ runId, error: e.message, type: e.type, progress: e.progress }, null, 2));
      throw e;
    }
  } catch (e) {
    // A run on a lasting server goes on without us (if a worker elsewhere serves it): say where to find it.
    if (e instanceof InterruptedError && runId && external)
      e.message += `; run ${runId} stays on the server (\`baton status ${runId}\`)`;
    throw e;
  } finally {
    await session.close();
  }
}

/** Register the run commands. */
export function registerRunCommands(program: Command): void {
  program
    .command('validate')
    .description('Check ensemble files (schema, dependencies, profiles, templates) without running anything')
    .argument('<files...>', 'ensemble YAML files, or names under .baton/ensembles')
    .option(
      '--tools <module>',
      'also check tool names against the tools this module exports (default: BATON_TOOLS)',
    )
    .addOption(outputOption('rich or text (readable lines), or json (one JSON object per file)'))
    .action((files: string[], o: { output: Output; tools?: string }) => {
      const tools = loadToolsModule(o.tools ?? process.env.BATON_TOOLS).map((t) => t.name);
      let failed = 0;
      for (const f of files) {
        try {
          const def = loadEnsemble(f, tools.length ? tools : undefined);
          if (o.output === 'json')
            out(JSON.stringify({ file: f, ok: true, name: def.name, steps: def.steps.length }));
          else out(`ok  ${f}: ${def.name}, ${plural(def.steps.length, 'step')}`);
        } catch (e) {
          failed++;
          const issues = (e as { issues?: unknown }).issues;
          if (o.output === 'json')
            out(
              JSON.stringify({
                file: f,
                ok: false,
                error: (e as Error).message,
                ...(issues !== undefined && { issues }),
              }),
            );
          else err((e as Error).message);
        }
      }
      if (failed)
        throw new BadInputError(
          `${failed} of ${files.length} ensemble${files.length > 1 ? 's' : ''} refused`,
        );
    });

  program
    .command('run')
    .description(
      'Run an ensemble and follow it to the end (input from the argument, --input-file, or piped stdin)',
    )
    .argument(
      '<ensemble>',
      'ensemble YAML file, or a name under .baton/ensembles or ~/.config/baton/ensembles',
    )
    .argument('[input]', 'the run input ({{input}} in prompts)')
    .option('--input-file <file>', 'read the input from a file')
    .addOption(outputOption())
    .option(
      '--run-id <id>',
      'your id for the run; running again with it follows the existing run instead of starting another',
    )
    .option('--detach', 'start the run, print its id and return (needs TEMPORAL_ADDRESS)')
    .option('--local-worker', 'run a worker inside this command (default when TEMPORAL_ADDRESS is unset)')
    .option('--no-local-worker', 'rely on workers elsewhere (default when TEMPORAL_ADDRESS is set)')
    .option('--task-queue <name>', 'task queue (default: BATON_TASK_QUEUE or baton)')
    .option(
      '--tools <module>',
      'register the tools this module exports on the local worker (default: BATON_TOOLS)',
    )
    .option('-v, --verbose', 'for an llm-orc file: print how it was converted (on stderr)')
    .option(
      '--worker-config <file>',
      'the local worker reads scripts, mcp_servers and allowed_endpoints from this file, as `baton worker --config` does',
    )
    .option('--memory-user <id>', "long-term memory: the user this run's memories belong to (docs/memory.md)")
    .option('--memory-thread <id>', "long-term memory: the conversation thread this run's memories belong to")
    .option(
      '--tokens',
      "print each model call's text to stderr as it streams (default: rich output on a terminal)",
    )
    .option('--no-tokens', 'do not print streamed text')
    .addHelpText(
      'after',
      '\nAn llm-orc ensemble (a file under .llm-orc/, or of its shape) runs directly when every field it uses maps to Baton; see `baton import llm-orc --help`.\n\nExamples:\n  baton run examples/ensembles/code-review.yaml --input-file src/client.ts\n  cat code.ts | baton run code-review -o json',
    )
    .action(runCommand);

  program
    .command('status')
    .description("Show a run's steps: status, output, tokens, cost and timing")
    .argument('<run>', 'run id')
    .addOption(outputOption())
    .option(
      '--follow',
      "follow the run to its end, printing each model call's text as it streams (rich output)",
    )
    .option(
      '--events',
      'with --follow: print every event as one JSON line on stdout instead (docs/streaming.md)',
    )
    .option('--after <id>', 'with --follow: resume after this event id')
    .action(
      async (runId: string, o: { output: Output; follow?: boolean; events?: boolean; after?: string }) => {
        const baton = await connectExisting();
        try {
          if (o.events && !o.follow) throw new BadInputError('--events needs --follow');
          if (o.follow && o.events) {
            for await (const ev of baton.events(runId, { ...(o.after && { after: o.after }) }))
              out(JSON.stringify(ev));
            return;
          }
          if (o.follow && o.output === 'rich')
            await printTokens(baton, runId, (t) => void process.stderr.write(t));
          else if (o.follow) await baton.result(runId).catch(() => undefined);
          printProgress(runId, await baton.progress(runId), o.output);
        } finally {
          await baton.close();
        }
      },
    );

  program
    .command('result')
    .description('Wait for a run to end and print its output')
    .argument('<run>', 'run id')
    .addOption(outputOption())
    .action(async (runId: string, o: { output: Output }) => {
      const baton = await connectExisting();
      try {
        const r = await baton.result(runId);
        printProgress(runId, r, o.output);
      } finally {
        await baton.close();
      }
    });

  program
    .command('list')
    .description('List recent runs')
    .option('--limit <n>', 'how many', '20')
    .addOption(
      new Option('--status <status>', 'only runs in this state').choices([
        'running',
        'completed',
        'failed',
        'canceled',
        'terminated',
      ]),
    )
    .addOption(outputOption())
    .action(async (o: { limit: string; status?: string; output: Output }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit <= 0)
        throw new BadInputError(`--limit ${o.limit} is not a positive whole number`);
      const baton = await connectExisting();
      try {
        const status = o.status ? `${o.status[0]!.toUpperCase()}${o.status.slice(1)}` : undefined;
        const rows = await baton.listRuns({ limit, ...(status && { status }) });
        if (o.output === 'json') out(JSON.stringify(rows, null, 2));
        else
          for (const r of rows)
            out(
              `${r.started}  ${r.status.padEnd(10)} ${(r.unreadable ? '(unreadable)' : r.ensemble).padEnd(20)} ${r.runId}`,
            );
      } finally {
        await baton.close();
      }
    });

  program
    .command('cancel')
    .description('Cancel a run; its running model calls are aborted')
    .argument('<run>', 'run id')
    .action(async (runId: string) => {
      const baton = await connectExisting();
      try {
        await baton.cancel(runId);
        out(`cancel requested for ${runId}`);
      } finally {
        await baton.close();
      }
    });
}
