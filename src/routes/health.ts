import type { FastifyPluginAsync } from 'fastify'

const health: FastifyPluginAsync = async (app) => {
  // Liveness: the process answers. Never touches Genesys, so a Genesys outage does not get us restarted.
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }))

  // Readiness: we could write right now, which needs a token (cached, so this is cheap).
  // Shutting down is answered by the onRequest hook with 503, so the load balancer moves on.
  app.get('/readyz', { logLevel: 'silent' }, async () => {
    await app.tokens.get()
    return { status: 'ready' }
  })
}

export default health
