export { type FlatPpoConfig, type FlatPpoConfigInput, FlatPpoConfigSchema } from './config.js';
export { type FlatRolesOptions, flatRoles, loadFlatAgentRoles, RecordingReplyPolicy } from './flat-agent.js';
export {
  type FlatPpoCurvePoint,
  type FlatPpoResult,
  type FlatPpoRunOptions,
  runFlatPpo,
} from './run.js';
