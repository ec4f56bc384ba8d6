import type { Command } from 'commander';
import { registerApiCommand } from './api';
import { registerApprovalCommands } from './approvals';
import { registerImportCommands } from './import';
import { registerEvalCommand } from './eval';
import { registerLineageCommands } from './lineage';
import { registerMemoryCommands } from './memory';
import { registerRunCommands } from './runs';

/** Each command group adds its commands to the program; add new groups to this list. */
export const commandGroups: ((program: Command) => void)[] = [
  registerRunCommands,
  registerApprovalCommands,
  registerLineageCommands,
  registerApiCommand,
  registerImportCommands,
  registerEvalCommand,
  registerMemoryCommands,
];
