export { EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, type MainIo, main } from './cli/main.js';
export { ALL_COMMANDS } from './cli/registry.js';
export { dataCommand } from './commands/data.js';
export { demoCommand } from './commands/demo.js';
