import type { CommandSpec } from '@gopo/core';
import { dialogueCommands } from '@gopo/dialogue';
import { envsCommands } from '@gopo/envs';
import { lmCommands } from '@gopo/lm';
import { rewardsCommands } from '@gopo/rewards';
import { csKtoCommand, csPpoCommand, csRlCommand, csSampleCommand, csSftCommand } from '../commands/cs.js';
import { dataCommand } from '../commands/data.js';
import { demoCommand } from '../commands/demo.js';
import { evalPolicyCommand, reportCommand } from '../commands/eval-policy.js';
import { experimentCommand } from '../commands/experiment.js';
import { expertSftCommand } from '../commands/expert-sft.js';
import { joshCommand } from '../commands/josh.js';
import { ppoCommand } from '../commands/ppo.js';
import { trainCommand } from '../commands/train.js';

/** Every `gopo` subcommand, each declared by the package that owns it. */
export const ALL_COMMANDS: readonly CommandSpec[] = [
  demoCommand,
  dataCommand,
  trainCommand,
  experimentCommand,
  evalPolicyCommand,
  reportCommand,
  expertSftCommand,
  csSftCommand,
  csSampleCommand,
  csRlCommand,
  csKtoCommand,
  csPpoCommand,
  ppoCommand,
  joshCommand,
  ...dialogueCommands,
  ...envsCommands,
  ...lmCommands,
  ...rewardsCommands,
] as unknown as CommandSpec[];
