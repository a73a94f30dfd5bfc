import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { ApiError, problemSchema, toProblem, type ErrorCode } from '../errors.ts'
import { toApiError } from '../updates/index.ts'
import type { TokenProvider } from '../genesys/index.ts'

/** Why an instance may not be ready: Redis, the token (whatever Genesys answered), shutdown. */
const NOT_READY: ErrorCode[] = ['COORDINATION_UNAVAILABLE', 'UPSTREAM_AUTH_FAILED', 'UPSTREAM_RATE_LIMITED', 'UPSTREAM_ERROR', 'SHUTTING_DOWN']

const health: FastifyPluginAsync<{ tokens: TokenProvider }> = async (app, { tokens }) => {
  // Liveness: the process answers. Never touches Genesys, so a Genesys outage does not get us restarted.
  app.get('/healthz', { logLevel: 'silent', schema: { summary: 'Liveness', security: [], response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }))

  // Readiness: we could write right now, which needs a token (cached, so this is cheap).
  // Shutting down is answered by the onRequest hook with 503, so the load balancer moves on.
  const readiness = {
    summary: 'Readiness: a Genesys token can be had, Redis answers (when configured), and the instance is not shutting down',
    description: 'Not ready is always 503, so a load balancer need look at one status; the problem\'s `code` and `detail` name the cause.',
    security: [],
    response: { 200: z.object({ status: z.literal('ready') }), 503: problemSchema(503, NOT_READY) },
  }
  app.get('/readyz', { logLevel: 'silent', schema: readiness }, async (_req, reply) => {
    try {
      // Multi-replica mode writes nothing without Redis, so without it this replica is not ready.
      // On a cluster, the node asked is the one every write needs (the budget's and the token's);
      // a node holding only some conversations may be lost while the rest are written.
      await tokens.reachable()
      await tokens.get()
      return { status: 'ready' as const }
    } catch (err) {
      const cause = toApiError(err)
      if (!(cause instanceof ApiError)) throw cause
      reply.problemCode = cause.code
      if (cause.retryAfter !== undefined) reply.header('retry-after', String(cause.retryAfter))
      // The cause's own title is about a write ("…; not written"); this answer is about readiness.
      return reply.status(503).type('application/problem+json').send({ ...toProblem(cause, '/readyz'), title: 'Not ready to take writes', status: 503 })
    }
  })
}

export default health
