import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyReply {
    /** Attribute keys the request set, for the request log line (values are never logged). */
    loggedKeys: string[] | undefined
  }
}

/**
 * One line per request, written when the answer has gone out, in place of Fastify's two
 * ("incoming request" and "request completed"): per-request logging is a large share of this
 * service's CPU time. It carries the caller's key name, the attribute keys written and the
 * problem code; never a value (values may be personal data).
 * Routes declared with `logLevel: 'silent'` (health checks) write nothing.
 * Fastify takes it as its `logController` option.
 */
export class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (err: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: req.method,
      // Without the query, which may hold what a log should not (a Data Action's templated values).
      url: req.url.split('?', 1)[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      caller: req.caller,
      code: reply.problemCode,
      keys: reply.loggedKeys,
    }
    if (err) req.log.error({ ...line, err }, 'request failed')
    else req.log.info(line, 'request')
  }
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

/** Fastify's `genReqId` option: a caller's (or a proxy's) X-Request-Id when it is a plain token; else a new one. */
export function requestId (req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/** The request id echoed on every answer, so a caller can quote it and find the request's log lines. */
export default fp(
  async (app) => {
    app.decorateReply('loggedKeys', undefined)
    // Callback style: this runs on every request, and an async hook costs a promise each time.
    app.addHook('onRequest', (req, reply, done) => {
      reply.header('x-request-id', req.id)
      done()
    })
  },
  { name: 'request-log' }
)
