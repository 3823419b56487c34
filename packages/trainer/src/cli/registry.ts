import type { CommandSpec } from '@gopo/core';
import { lmCommands } from '@gopo/lm';
import { dataCommand } from '../commands/data.js';
import { demoCommand } from '../commands/demo.js';

/** Every `gopo` subcommand, each declared by the package that owns it. */
export const ALL_COMMANDS: readonly CommandSpec[] = [demoCommand, dataCommand, ...lmCommands] as unknown as CommandSpec[];
