import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { coordinationUnavailable, problemSchema } from '../errors.js'

const health: FastifyPluginAsync = async (app) => {
  // Liveness: the process answers. Never touches Genesys, so a Genesys outage does not get us restarted.
  app.get('/healthz', { logLevel: 'silent', schema: { summary: 'Liveness', security: [], response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }))

  // Readiness: we could write right now, which needs a token (cached, so this is cheap).
  // Shutting down is answered by the onRequest hook with 503, so the load balancer moves on.
  const readiness = {
    summary: 'Readiness: a Genesys token can be had, Redis answers (when configured), and the instance is not shutting down',
    security: [],
    response: { 200: z.object({ status: z.literal('ready') }), 502: problemSchema(502), 503: problemSchema(503) },
  }
  app.get('/readyz', { logLevel: 'silent', schema: readiness }, async () => {
    // Multi-replica mode writes nothing without Redis, so without it this replica is not ready.
    if (app.redis) await app.redis.ping().catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
    await app.tokens.get()
    return { status: 'ready' as const }
  })
}

export default health
