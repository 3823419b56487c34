import { exportCommand } from './export/commands.js';
import { generateCommand } from './generate/commands.js';
import { trainTokenizerCommand } from './tokenizer/commands.js';
import { sftCommand } from './train/command.js';

/** Every `gopo lm ...` command spec. */
export const lmCommands = [trainTokenizerCommand, generateCommand, exportCommand, sftCommand];
