import type { Command } from 'commander';

/** Each command group adds its commands to the program; add new groups to this list. */
export const commandGroups: ((program: Command) => void)[] = [];
