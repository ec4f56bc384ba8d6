/** `baton memory forget`: delete long-term memories by scope (docs/memory.md). */
import type { Command } from 'commander';
import { connectExisting } from '../connect';
import { out } from '../output';

/** Register `baton memory`. */
export function registerMemoryCommands(program: Command): void {
  const memory = program.command('memory').description('Long-term memory that steps remember and recall');
  memory
    .command('forget')
    .description(
      'Delete every memory of a namespace, or of a user (and thread) in it; runs on a worker, whose store holds them',
    )
    .requiredOption('--namespace <name>', "the namespace (an ensemble's memory.namespace, default its name)")
    .option('--user <id>', "only this user's memories")
    .option('--thread <id>', "only this thread's memories")
    .option('--json', 'print { "deleted": n }')
    .action(async (o: { namespace: string; user?: string; thread?: string; json?: boolean }) => {
      const baton = await connectExisting();
      try {
        const r = await baton.forgetMemories({
          namespace: o.namespace,
          ...(o.user !== undefined && { user: o.user }),
          ...(o.thread !== undefined && { thread: o.thread }),
        });
        out(o.json ? JSON.stringify(r) : `deleted ${r.deleted} memor${r.deleted === 1 ? 'y' : 'ies'}`);
      } finally {
        await baton.close();
      }
    });
}
