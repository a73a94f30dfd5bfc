/**
 * What the service shows of itself in production. Its concepts:
 * 1. **Metrics** (metrics.ts): Prometheus counters, gauges and histograms on /metrics; a gauge
 *    another room owns is read when scraped.
 * 2. **Traces** (tracing.ts): OpenTelemetry spans, on when the OTEL_* variables name an exporter
 *    or an endpoint (config.ts says which), else nothing is loaded.
 * 3. **The request log** (request-log.ts): one line per request, with its id and the attribute
 *    keys it set, never their values.
 * 4. **The log's stdout** (stdout.ts): written synchronously, and never waiting for a reader.
 */
export { createMetrics, default as metricsPlugin, scrapedGauge } from './metrics.ts'
export type { Metrics } from './metrics.ts'
export { RequestLog, default as requestLog, requestId } from './request-log.ts'
export { stdoutLog } from './stdout.ts'
export { default as tracing, traceIds } from './tracing.ts'
