import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** A gauge read when /metrics is scraped, so that the metrics need not know what it reads. */
export function scrapedGauge (registry: Registry, name: string, help: string, read: () => number | Promise<number>): void {
  registry.registerMetric(new Gauge({ name, help, registers: [], async collect () { this.set(await read()) } }))
}

/**
 * What an operator alerts on, in Prometheus form at GET /metrics. Labels stay few and bounded
 * (routes as templates, catalogue codes, operations): never an id.
 */
export function createMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // prom-client names three gauges *_total, a suffix Prometheus keeps for counters (promtool
  // check metrics refuses them); each is the sum of its per-type gauge, which stays.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)
  const registers = [registry]
  return {
    registry,
    requests: new Counter({
      name: 'pdg_http_requests_total',
      help: 'Requests answered, by route template, method, status and problem code ("" on success)',
      labelNames: ['route', 'method', 'status', 'code'] as const,
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'pdg_http_request_duration_seconds',
      help: 'Time from request to answer, by route template',
      labelNames: ['route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    upstreamSeconds: new Histogram({
      name: 'pdg_genesys_request_duration_seconds',
      help: 'Genesys Cloud requests, by operation (token, getConversation, patchAttributes) and status ("network" when no answer came)',
      labelNames: ['operation', 'status'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    retries: new Counter({
      name: 'pdg_genesys_retries_total',
      help: 'Upstream retries, by cause: conflict (409), rate_limited (429), server (5xx), network, token (401)',
      labelNames: ['cause'] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: 'pdg_write_batch_size',
      help: "Callers' updates coalesced into each successful Genesys write",
      buckets: [1, 2, 3, 5, 10, 20, 50, 100],
      registers,
    }),
    budgetWaits: new Counter({
      name: 'pdg_rate_budget_waits_total',
      help: 'Upstream requests that waited for the rate budget, by caller priority',
      labelNames: ['priority'] as const,
      registers,
    }),
    budgetRefusals: new Counter({
      name: 'pdg_rate_budget_refusals_total',
      help: 'Upstream requests refused because the rate budget had no room before the deadline, by caller priority',
      labelNames: ['priority'] as const,
      registers,
    }),
    tokenRefreshes: new Counter({
      name: 'pdg_token_refreshes_total',
      help: 'OAuth token requests this instance made, by outcome (ok, failed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    replays: new Counter({ name: 'pdg_idempotent_replays_total', help: 'Requests answered from the idempotency store without writing', registers }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Counts every answer, and serves GET /metrics, for metrics made outside (createMetrics, in app.ts). */
export default fp<{ metrics: Metrics }>(
  async (app, { metrics }) => {
    app.decorate('metrics', metrics)
    // Callback style, on every request: an async hook would cost a promise each time.
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched'
      metrics.requests.labels(route, req.method, String(reply.statusCode), reply.problemCode ?? '').inc()
      metrics.requestSeconds.labels(route).observe(reply.elapsedTime / 1000)
      done()
    })
    const schema = { summary: 'Prometheus metrics (text exposition format)', security: [], produces: ['text/plain'] }
    app.get('/metrics', { logLevel: 'silent', schema }, async (_req, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })
  },
  { name: 'metrics' }
)
