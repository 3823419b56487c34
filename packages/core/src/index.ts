export { AtomicFileWriter, writeFileAtomic, writeFileAtomicSync, writeJsonAtomic } from './atomic-file.js';
export {
  type CliContext,
  type CommandSpec,
  DEVICE_NAMES,
  type DeviceName,
  defineCommand,
  describeOptions,
  type OptionDescription,
  type OptionKind,
  type PositionalSpec,
} from './cli-spec.js';
export {
  applyOverrides,
  type LoadConfigOptions,
  loadConfig,
  parseConfig,
  parseConfigText,
  validateConfig,
} from './config.js';
export {
  checkDataDir,
  DATA_DIR_ENV,
  type DataCheckRow,
  type DataFileStatus,
  dataFile,
  requireDataDir,
  resolveDataDir,
  sha256File,
} from './data-dir.js';
export { DATA_FILES, DATASET_SOURCES, type DataFileSpec, type DatasetName } from './data-manifest.js';
export {
  ConfigError,
  FileFormatError,
  formatFieldPath,
  formatLocation,
  GopoError,
  isGopoError,
  MissingFileError,
  type SourceLocation,
  UnknownNameError,
  UsageError,
} from './errors.js';
export {
  appendJsonl,
  type JsonlIssue,
  type JsonlRecord,
  JsonlWriter,
  parseJsonlLine,
  type ReadJsonlOptions,
  readJsonl,
  readJsonlAll,
} from './jsonl.js';
export {
  createLogger,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  silentLogger,
} from './logger.js';
export { siblingModule, startModuleWorker } from './module-worker.js';
export { Progress, type ProgressOptions, progressEnabled } from './progress.js';
export { createRegistry, type Registry } from './registry.js';
export { hashString, Rng, type RngState } from './rng.js';
export { createRunDir, type RunDir, type RunDirOptions } from './run-dir.js';
export { PhaseTimers } from './timers.js';
