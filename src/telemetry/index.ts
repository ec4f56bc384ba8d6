/**
 * OpenTelemetry tracing for Baton (docs/observability.md): off unless OTEL_EXPORTER_OTLP_ENDPOINT is
 * set or a Tracing is passed to the client and worker.
 */
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import { activityInterceptors } from './activity-interceptors';
import type { Tracing } from './tracing';

export { ATTR } from './activity-interceptors';
export {
  createTracing,
  otlpTracesUrl,
  tracingFromEnv,
  DEFAULT_SERVICE_NAME,
  TracingSettingsError,
  type Tracing,
} from './tracing';

/** The module a traced worker's workflow bundle includes (`bundleWorkflowCode({ workflowInterceptorModules: [...] })`). */
export const TRACING_WORKFLOW_MODULE: string = require.resolve('./workflow-interceptors');

// OpenTelemetry's code is loaded when tracing is on, not by every process that imports Baton.
const interceptorsModule = () =>
  require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');

/** Client interceptors: a `StartWorkflow:batonRun` span whose context travels to the run in headers. */
export function clientInterceptors(tracing: Tracing): WorkflowClientInterceptor[] {
  const { OpenTelemetryWorkflowClientInterceptor } = interceptorsModule();
  return [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })];
}

/**
 * Worker options that trace: activity interceptors, the sink workflow spans leave the sandbox
 * through, and (when the worker bundles its workflows itself) the workflow interceptor module.
 * A prebuilt bundle must have been built with {@link TRACING_WORKFLOW_MODULE}.
 */
export function tracingWorkerOptions(
  tracing: Tracing,
  prebuiltBundle: boolean,
): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const { makeWorkflowExporter } = interceptorsModule();
  return {
    interceptors: {
      activity: activityInterceptors(tracing.tracer),
      ...(!prebuiltBundle && { workflowModules: [TRACING_WORKFLOW_MODULE] }),
    },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}
