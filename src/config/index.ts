/** Declarative ensembles: YAML in, a checked plain-JSON EnsembleDefinition out. */
export { loadConfig, loadEnsembleFile, loadEnsembleText, type BatonConfig, type LoadOptions } from './load';
export {
  findConfigDirs,
  findEnsemble,
  findLocalConfigDir,
  globalConfigDir,
  listEnsembles,
  type ConfigDirs,
  type EnsembleEntry,
} from './config-dirs';
export { EnsembleError, formatIssues, type EnsembleIssue } from './errors';
export { checkEnsemble, type CheckContext, type CheckIssue } from './checks';
export {
  configSchema,
  ensembleSchema,
  parseCondition,
  type ConfigFile,
  type EnsembleConfig,
} from './ensemble-schema';
export {
  BUILTIN_PROFILES,
  findProfile,
  profileSchema,
  resolveProfile,
  toModelProfile,
  UnknownProfileError,
  type ProfileConfig,
} from './profiles';
export { agentProfiles, missingKeys, missingKeysMessage, type MissingKey } from './preflight';
