/**
 * Where spans go: a tracer provider with one span processor, made from the environment
 * (OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set) or from a processor you give (tests use an
 * in-memory exporter). Without a Tracing, Baton installs no interceptor and creates no span.
 */
import type * as otel from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

// OpenTelemetry's packages are loaded when tracing is made, not by every process that imports Baton.
const sdk = () => require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');

/** The service name spans carry when OTEL_SERVICE_NAME is not set. */
export const DEFAULT_SERVICE_NAME = 'baton';

/** An OTEL_* setting is not usable; the message names it. */
export class TracingSettingsError extends Error {
  override name = 'TracingSettingsError';
}

/** A tracer and the processor its spans (and the workflow sandbox's, through a sink) end in. */
export interface Tracing {
  readonly tracer: otel.Tracer;
  readonly spanProcessor: SpanProcessor;
  readonly resource: Resource;
  /** Export what is buffered now. */
  forceFlush(): Promise<void>;
  /** Export what is buffered and stop. */
  shutdown(): Promise<void>;
}

let contextManagerInstalled = false;

/**
 * A span's context travels from client to run to activity in Temporal headers, written and read by
 * the global propagator (W3C trace context), and activity spans find their parent through the
 * active context (AsyncLocalStorage). Both are installed once per process, only when tracing is on,
 * and only where the application installed none of its own.
 */
function installContextManager(): void {
  if (contextManagerInstalled) return;
  contextManagerInstalled = true;
  const api = require('@opentelemetry/api') as typeof otel;
  const { AsyncLocalStorageContextManager } =
    require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } =
    require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/**
 * Tracing that sends spans to `spanProcessor`.
 *
 * @example const tracing = createTracing({ spanProcessor: new SimpleSpanProcessor(new InMemorySpanExporter()) });
 */
export function createTracing(opts: { spanProcessor: SpanProcessor; serviceName?: string }): Tracing {
  installContextManager();
  const { Resource } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { BasicTracerProvider } = sdk();
  const resource = new Resource({ 'service.name': opts.serviceName ?? DEFAULT_SERVICE_NAME });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [opts.spanProcessor] });
  return {
    tracer: provider.getTracer('baton'),
    spanProcessor: opts.spanProcessor,
    resource,
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** The OTLP/HTTP traces URL the environment names, or undefined when tracing is off. */
export function otlpTracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

const fromEnv = new Map<string, Tracing>();

/**
 * Tracing over OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
 * is set, else undefined: no interceptor, no span. One per URL and process, shared by clients and workers.
 */
export function tracingFromEnv(env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  const url = otlpTracesUrl(env);
  if (!url) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    const name = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
      ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
      : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    throw new TracingSettingsError(
      `${name}=${env[name]} is not an http(s) URL: give the OTLP/HTTP receiver's address, e.g. http://127.0.0.1:4318`,
    );
  }
  let tracing = fromEnv.get(url);
  if (!tracing) {
    const { OTLPTraceExporter } =
      require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    const { BatchSpanProcessor } = sdk();
    tracing = createTracing({
      spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url })),
      ...(env.OTEL_SERVICE_NAME && { serviceName: env.OTEL_SERVICE_NAME }),
    });
    fromEnv.set(url, tracing);
  }
  return tracing;
}
