/** Finding, provisioning and starting a Temporal server for Baton. */
export {
  acquireTemporal,
  defaultCacheDir,
  defaultProjectDir,
  findTemporalBinary,
  locateTemporalBinary,
  resolveTemporal,
  TEMPORAL_CLI_VERSION,
  TemporalUnavailableError,
  type AcquireOptions,
  type FindOptions,
  type FoundBinary,
  type TemporalConnectionOptions,
  type TemporalHandle,
  type TemporalPlan,
  type TemporalSource,
} from './resolve';
export {
  DEV_SERVER_DYNAMIC_CONFIG,
  devServerTuningArgs,
  freePort,
  startDevServer,
  type DevServer,
  type DevServerOptions,
} from './dev-server';
export {
  BATON_SEARCH_ATTRIBUTES,
  ensureSearchAttributes,
  searchAttributeArgs,
  type CliSearchAttributeType,
} from './search-attributes';
