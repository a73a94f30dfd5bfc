import type { FastifyOtelInstrumentation } from '@fastify/otel'
import { context, propagation, trace, type Span } from '@opentelemetry/api'
import type { NodeSDK } from '@opentelemetry/sdk-node'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

export interface TracingOptions {
  /** From config: an OTLP endpoint or a traces exporter is named in the OTEL_* variables. */
  enabled: boolean
}

/** The Genesys calls, by path, as the route templates their client spans are named after. */
const GENESYS_ROUTES: ReadonlyArray<[RegExp, string]> = [
  [/\/api\/v2\/conversations\/[^/]+\/participants\/[^/]+\/attributes$/, '/api/v2/conversations/{conversationId}/participants/{participantId}/attributes'],
  [/\/api\/v2\/conversations\/[^/]+$/, '/api/v2/conversations/{conversationId}'],
  [/\/oauth\/token$/, '/oauth/token'],
]

/** Probes and scrapes, every few seconds from every replica: noise in a trace store. */
const UNTRACED = new Set(['/healthz', '/readyz', '/metrics'])

/**
 * Keeps a span's error status but not its description: the instrumentations describe an error
 * by its message, and a message may quote the request (V8's JSON syntax errors quote the body).
 */
function codeOnly (span: Span): void {
  const setStatus = span.setStatus.bind(span)
  span.setStatus = (status) => setStatus({ code: status.code })
}

const pathOf = (url: string) => {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/**
 * The OpenTelemetry SDK, configured by the standard OTEL_* variables (exporter, protocol,
 * endpoint, sampler, service name, batch delays), with two instrumentations: @fastify/otel for
 * the server span of each request (continuing the caller's traceparent) and the undici one
 * (diagnostics_channel, which sees the Genesys client's dispatch() calls) for a client span per
 * Genesys call. Traces only: the SDK's own metrics and logs pipelines stay off (Prometheus has
 * the metrics, stdout the logs). Nothing here records a header (but inin-correlation-id), a
 * body, or a query string.
 *
 * The SDK is started here rather than before the app is imported: neither instrumentation
 * patches modules, so nothing needs loading first. It is imported here too, only when tracing is
 * on: loading it and its exporters takes over a second and some 40 MiB.
 */
async function startSdk (): Promise<{ sdk: NodeSDK; server: FastifyOtelInstrumentation }> {
  const [{ FastifyOtelInstrumentation }, { UndiciInstrumentation }, { NodeSDK }] = await Promise.all([
    import('@fastify/otel'),
    import('@opentelemetry/instrumentation-undici'),
    import('@opentelemetry/sdk-node'),
  ])
  const server = new FastifyOtelInstrumentation({
    // One span per request and one for the handler (under which the pipeline's spans hang);
    // a span for each of the ~10 hooks would cost more than it tells.
    instrumentHooks: false,
    // An exception event carries the message and stack: see codeOnly.
    recordExceptions: false,
    ignorePaths: ({ url }) => UNTRACED.has(pathOf(url)),
    lifecycleHook: codeOnly,
    requestHook: (span: Span, req: FastifyRequest) => {
      codeOnly(span)
      const route = req.routeOptions.url
      if (route !== undefined) span.updateName(`${req.method} ${route}`)
      // The path with its ids, never the query string, whatever a caller puts there.
      span.setAttribute('url.path', pathOf(req.url))
    },
  })
  const client = new UndiciInstrumentation({
    headersToSpanAttributes: { responseHeaders: ['inin-correlation-id'] },
    requestHook: (span, req) => {
      const path = pathOf(req.path)
      const template = GENESYS_ROUTES.find(([re]) => re.test(path))?.[1]
      if (template === undefined) return
      span.updateName(`${req.method} ${template}`)
      span.setAttribute('url.template', template)
    },
  })
  const sdk = new NodeSDK({ instrumentations: [server, client], metricReaders: [], logRecordProcessors: [] })
  sdk.start()
  return { sdk, server }
}

/** The process's SDK (OpenTelemetry's API holds one, globally) and the apps that use it. */
let running: { started: ReturnType<typeof startSdk>; apps: number } | undefined

/**
 * OpenTelemetry traces when config says they are on; otherwise nothing is loaded, started or
 * hooked, and the pipeline's tracer stays undefined (see updates/tracing.ts). Registered first,
 * so its server span wraps every other plugin's hooks and every route.
 */
export default fp<TracingOptions>(
  async (app, { enabled }) => {
    if (!enabled) return
    running ??= { started: startSdk(), apps: 0 }
    running.apps++
    const { server } = await running.started
    await app.register(server.plugin())
    app.addHook('onClose', async () => {
      if (running === undefined || --running.apps > 0) return
      const { started } = running
      running = undefined
      const { sdk } = await started
      // Every span of the last requests is exported before the process exits.
      await sdk.shutdown().catch((err: unknown) => app.log.warn({ err }, 'tracing: the last spans could not be exported'))
      // Let go of the API's globals, so that an app built later in this process can trace again.
      trace.disable()
      context.disable()
      propagation.disable()
    })
  },
  { name: 'tracing' }
)

/** pino's `mixin` when tracing is on: the ids of the span a line is written under, if any. */
export function traceIds (): Record<string, string> {
  const span = trace.getSpan(context.active())
  if (span === undefined) return {}
  const { traceId, spanId } = span.spanContext()
  return { trace_id: traceId, span_id: spanId }
}
