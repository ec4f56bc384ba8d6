/**
 * Baton's public API for services and workers. Workflow code (patterns for your own workflows)
 * is imported from `baton/dist/workflows/patterns` instead, so it is bundled only where it runs.
 */
export {
  BatonClient,
  InvalidRequestError,
  ProgressUnavailableError,
  RunFailedError,
  downstreamOf,
} from './client';
export { WorkerSettingsError } from './worker';
export { STRUCTURED_OUTPUT_ERROR } from './error-types';
export { ApprovalRefusedError } from './client';
export type { ForkOptions, RetryOptions, RunHandle, StartOptions } from './client';
export { chain, fanOutJoin, type AgentSpec } from './define';
export { createWorker, DEFAULT_TASK_QUEUE, type BatonWorkerOptions } from './worker';
export { createTool, ToolNotRun, type ToolContext, type ToolDefinition } from './activities/tools';
export {
  EndpointPolicy,
  EndpointSettingsError,
  loadWorkerConfig,
  parseAllowedEndpoints,
  type AllowedEndpoint,
} from './activities/endpoints';
export { BUILTIN_PROFILES, resolveProfile, UnknownProfileError } from './config/profiles';
export { EnsembleError, loadEnsembleFile, loadEnsembleText } from './config';
export {
  checkDefinition,
  checkRunInput,
  definitionSchema,
  InvalidDefinitionError,
  parseDefinition,
  runInputSchema,
  type DefinitionIssue,
} from './config/definition-schema';
export { createApi, createHttpServer, type ApiOptions, type CodecHandlers } from './http/server';
export { generateKey, hashKey, keyEntry, type Scope } from './http/auth';
export { acquireTemporal, TemporalUnavailableError } from './server';
export { replayHistory, fetchRunHistory, readHistoryFile } from './replay';
export type * from './types';
export type * from './workflows/api';
export {
  AesGcmCodec,
  codecFromEnv,
  codecServerHandlers,
  CodecKeyError,
  CodecRequestError,
  dataConverterFromEnv,
  PayloadDecryptionError,
} from './codec';
export {
  createTracing,
  tracingFromEnv,
  TracingSettingsError,
  TRACING_WORKFLOW_MODULE,
  type Tracing,
} from './telemetry';
export {
  METRIC,
  MetricsSettingsError,
  prometheusBindAddress,
  STEP_WORKFLOW_MODULE,
} from './telemetry/metrics';
export { GATE_METRIC, GatesGaugeSettingsError, startGatesGauge } from './telemetry/gates-gauge';
