export {
  AtomicFileWriter,
  publishFiles,
  writeFileAtomic,
  writeFileAtomicSync,
  writeJsonAtomic,
} from './atomic-file.js';
export {
  type CliContext,
  COMMAND_GLOBALS,
  type CommandFiles,
  type CommandGlobal,
  type CommandSpec,
  DEVICE_NAMES,
  type DeviceName,
  defineCommand,
  describeOptions,
  MAX_SEED,
  type OptionDescription,
  type OptionKind,
  type OutputFormat,
  OutputFormatSchema,
  type PositionalSpec,
} from './cli-spec.js';
export {
  applyOverrides,
  type CommandConfigSource,
  type LoadConfigOptions,
  loadConfig,
  MAX_YAML_ALIASES,
  parseConfig,
  parseConfigText,
  readConfigText,
  resolveCommandConfig,
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
  asResourceError,
  ConfigError,
  escapeControl,
  FileFormatError,
  formatFieldPath,
  formatLocation,
  GopoError,
  isGopoError,
  MissingFileError,
  PathError,
  ResourceError,
  RunDirError,
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
  assertNotJsonArray,
  type ByteRange,
  decodeLines,
  type FileLine,
  firstLineFault,
  INVALID_UTF8_MESSAGE,
  type LineBatch,
  type LineFault,
  lineTooLongMessage,
  MAX_LINE_BYTES,
  type ReadLinesOptions,
  readLineBatches,
  readLines,
} from './lines.js';
export {
  acquireLock,
  heldLocks,
  inspectLock,
  type Lock,
  LockedError,
  type LockInfo,
  processAlive,
  releaseLock,
} from './lock-file.js';
export {
  createLogger,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  silentLogger,
} from './logger.js';
export { siblingModule, startModuleWorker } from './module-worker.js';
export {
  assertNotAnInput,
  checkAppendFile,
  checkInputDir,
  checkInputFile,
  classifyError,
  describeKind,
  ensureDir,
  isInside,
  type NamedPath,
  resolveOutputFile,
  sameFile,
} from './paths.js';
export { Progress, type ProgressOptions, progressEnabled } from './progress.js';
export { createRegistry, type Registry } from './registry.js';
export { hashString, Rng, type RngState } from './rng.js';
export {
  type ConfigChange,
  checkRunName,
  createRunDir,
  diffConfig,
  formatConfigChanges,
  RUN_LOCK,
  RUN_MARKER,
  RUN_NAME_RULE,
  type RunDir,
  type RunDirOptions,
  RunNameSchema,
  type RunPaths,
  runPaths,
} from './run-dir.js';
export { findSchemaPath, nonStrictObjectPaths, type SchemaPathMiss, validKeysAt } from './schema-walk.js';
export { liveTempFiles, TEMP_FILE_MARKER, tempPathFor, trackTempFile } from './temp-files.js';
export { PhaseTimers } from './timers.js';
