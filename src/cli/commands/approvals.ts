/** `baton approvals | approve | reject`: find gates waiting for a person, and decide them. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  ApprovalRefusedError,
  decisionTarget,
  type ApprovalDecision,
  type PendingApprovalListing,
} from '../../client';
import type { PendingApproval, RunProgress } from '../../workflows/api';
import { connectExisting } from '../connect';
import { BadInputError } from '../exit-codes';
import { err, out, outputOption as formatOption, preview, type Output } from '../output';

const outputOption = () =>
  formatOption('rich (a table), json (machine-readable), or text (one plain line each)');

/** How long ago (or until) an ISO time is, from now: `3m`, `2h 5m`, `1d 4h`. */
export function relative(iso: string, now = Date.now()): string {
  const ms = Math.abs(Date.parse(iso) - now);
  const m = Math.floor(ms / 60_000);
  if (m < 1) return `${Math.floor(ms / 1000)}s`;
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** One line per waiting gate of a run's progress, for `baton status` and `baton approve` hints. */
export function pendingLines(p: Pick<RunProgress, 'pendingApprovals'>, now = Date.now()): string[] {
  return (p.pendingApprovals ?? []).map((g: PendingApproval) => {
    const due = Date.parse(g.deadline) > now ? `in ${relative(g.deadline, now)}` : 'now';
    const what =
      g.kind === 'tool' && g.tool ? `${g.tool.name}(${JSON.stringify(g.tool.arguments)})` : g.summary;
    const then = g.escalated ? 'escalated; then reject' : `then ${g.onTimeout}`;
    return `⏸ gate '${g.gate}' (${g.kind}) waits for a decision, deadline ${due} (${then}): ${preview(what, 100)}`;
  });
}

/** A decision as one line: `approved gate 'ship' of run r-1 (by alice: looks right)`. */
export function decisionLine(runId: string, d: ApprovalDecision): string {
  const edited =
    d.editedDraft !== undefined
      ? ', with an edited draft'
      : d.editedArguments !== undefined
        ? ', with edited arguments'
        : '';
  return `${d.outcome} gate '${d.gate}' of run ${runId}${edited} (by ${d.by}${d.comment ? `: ${d.comment}` : ''})`;
}

function printListing(rows: PendingApprovalListing[], format: Output): void {
  if (format === 'json') return out(JSON.stringify(rows, null, 2));
  if (format === 'text') {
    for (const r of rows) out(`${r.runId}\t${r.gate}`);
    return;
  }
  if (rows.length === 0) return out('no gate is waiting for a decision');
  const now = Date.now();
  const runW = Math.max(3, ...rows.map((r) => r.runId.length));
  const gateW = Math.max(4, ...rows.map((r) => r.gate.length));
  out(`${'RUN'.padEnd(runW)}  ${'GATE'.padEnd(gateW)}  KIND   WAITING  DEADLINE     ON TIMEOUT  SUMMARY`);
  for (const r of rows) {
    const due = Date.parse(r.deadline) > now ? `in ${relative(r.deadline, now)}` : 'now';
    const onTimeout = r.escalated ? 'reject (escalated)' : r.onTimeout;
    out(
      `${r.runId.padEnd(runW)}  ${r.gate.padEnd(gateW)}  ${r.kind.padEnd(5)}  ${relative(r.since, now).padEnd(7)}  ${due.padEnd(11)}  ${onTimeout.padEnd(10)}  ${preview(r.summary, 80)}`,
    );
  }
  out(
    `\n${rows.length} gate${rows.length > 1 ? 's' : ''} waiting. Decide with: baton approve <run> [gate] --comment "..."  |  baton reject <run> [gate] --comment "..."`,
  );
}

interface DecideFlags {
  comment?: string;
  by?: string;
  editFile?: string;
  digest?: string;
  maxCostUsd?: string;
  maxTokens?: string;
  output: Output;
}

/** What a gate shows, as one line: a draft's text, a tool call with its arguments. */
function shown(g: PendingApproval): string {
  return g.kind === 'tool' && g.tool
    ? `${g.tool.name}(${JSON.stringify(g.tool.arguments)})`
    : (g.draft ?? g.summary);
}

/** The edit in --edit-file, as the gate's kind needs it: a draft's new text, or a tool call's new arguments (JSON). */
async function readEdit(target: PendingApproval | undefined, file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new BadInputError(`--edit-file ${file}: ${(e as Error).message}`);
  }
  // No match: send a draft edit and let the run say what is wrong (unknown gate, or which to name).
  // An editor's final newline is not part of the draft.
  if (target?.kind !== 'tool') return { editedDraft: text.replace(/\r?\n$/, '') };
  let args: unknown;
  try {
    args = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(
      `--edit-file ${file}: gate '${target.gate}' is a tool call, so the file must hold its arguments as JSON (${(e as Error).message})`,
    );
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new BadInputError(
      `--edit-file ${file}: the arguments of tool '${target.tool?.name}' must be a JSON object`,
    );
  }
  return { editedArguments: args as Record<string, unknown> };
}

async function decideCommand(
  outcome: 'approved' | 'rejected',
  runId: string,
  gate: string | undefined,
  f: DecideFlags,
): Promise<void> {
  const by = f.by ?? process.env.USER ?? process.env.USERNAME;
  if (!by) throw new BadInputError('say who decides: pass --by <name> (USER is not set)');
  const baton = await connectExisting();
  try {
    // The gate as it is now: shown before deciding, and its digest sent with the decision, so
    // the decision is refused (stale) if the gate shows something else by the time it lands.
    // With --digest (copied from `baton approvals -o json`), that is what the decision binds to.
    const pending =
      f.digest !== undefined && !f.editFile ? [] : await baton.pendingApprovals(runId).catch(() => []);
    const target = decisionTarget(pending, gate);
    if (target && f.digest === undefined && f.output === 'rich')
      err(`gate '${target.gate}' (${target.kind}) shows: ${preview(shown(target), 200)}`);
    const edit = f.editFile ? await readEdit(target, f.editFile) : {};
    const digest = f.digest ?? target?.digest;
    const budget = budgetFlags(f);
    const base = {
      by,
      ...(gate !== undefined && { gate }),
      ...(digest !== undefined && { digest }),
      ...(f.comment !== undefined && { comment: f.comment }),
    };
    const d =
      outcome === 'approved'
        ? await baton.approve(runId, { ...base, ...edit, ...(budget && { budget }) })
        : await baton.reject(runId, base);
    if (f.output === 'json') out(JSON.stringify({ runId, ...d }, null, 2));
    else if (f.output === 'text') out(d.outcome);
    else out(decisionLine(runId, d));
  } catch (e) {
    // A refused decision is the user's input being wrong: one line, exit code 2.
    if (e instanceof ApprovalRefusedError) throw new BadInputError(e.message);
    throw e;
  } finally {
    await baton.close();
  }
}

/** `--max-cost-usd` / `--max-tokens` of `baton approve`: a budget gate's new limits. */
function budgetFlags(f: DecideFlags): { maxCostUsd?: number; maxTokens?: number } | undefined {
  if (f.maxCostUsd === undefined && f.maxTokens === undefined) return undefined;
  const cost = f.maxCostUsd === undefined ? undefined : Number(f.maxCostUsd);
  const tokens = f.maxTokens === undefined ? undefined : Number(f.maxTokens);
  if (cost !== undefined && !(Number.isFinite(cost) && cost > 0))
    throw new BadInputError(`--max-cost-usd ${f.maxCostUsd}: give the new budget in dollars, a number > 0`);
  if (tokens !== undefined && !(Number.isInteger(tokens) && tokens > 0))
    throw new BadInputError(`--max-tokens ${f.maxTokens}: give the new token budget, a whole number > 0`);
  return {
    ...(cost !== undefined && { maxCostUsd: cost }),
    ...(tokens !== undefined && { maxTokens: tokens }),
  };
}

/** Register `baton approvals`, `baton approve` and `baton reject`. */
export function registerApprovalCommands(program: Command): void {
  program
    .command('approvals')
    .description('List approval gates waiting for a decision, across all running runs')
    .addOption(outputOption())
    .action(async (o: { output: Output }) => {
      const baton = await connectExisting();
      try {
        printListing(await baton.listPendingApprovals(), o.output);
      } finally {
        await baton.close();
      }
    });

  const decide = (name: 'approve' | 'reject', outcome: 'approved' | 'rejected', description: string) => {
    const cmd = program
      .command(name)
      .description(description)
      .argument('<run>', 'run id')
      .argument(
        '[gate]',
        'gate id (see `baton approvals`); may be left out when only one gate of the run waits',
      )
      .option('--comment <text>', 'why (recorded with the decision)')
      .option('--by <name>', 'who decides (default: $USER)')
      .option(
        '--digest <sha256:...>',
        'the digest of the gate as you saw it (`baton approvals -o json`); refused as stale if the gate shows something else now (default: the digest of what this command shows)',
      );
    if (name === 'approve') {
      cmd.option(
        '--edit-file <file>',
        'approve with edits: the replaced draft (text), or for a tool call its replaced arguments (JSON)',
      );
      cmd.option('--max-cost-usd <n>', "a budget gate: the run's new max_cost_usd (its total, in dollars)");
      cmd.option('--max-tokens <n>', "a budget gate: the run's new max_tokens (its total)");
    }
    cmd
      .addOption(outputOption())
      .addHelpText(
        'after',
        `\nExample:\n  baton ${name} order-42 ship-it --comment "${name === 'approve' ? 'looks right' : 'not this week'}"`,
      )
      .action((runId: string, gate: string | undefined, f: DecideFlags) =>
        decideCommand(outcome, runId, gate, f),
      );
  };
  decide(
    'approve',
    'approved',
    'Approve a waiting gate (optionally with an edited draft or edited tool arguments)',
  );
  decide('reject', 'rejected', 'Reject a waiting gate: its step fails (a tool call is not made)');
}
