import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

/**
 * One line per request, written when the answer has gone out, in place of Fastify's two
 * ("incoming request" and "request completed"): per-request logging is a large share of this
 * service's CPU time. It carries the caller's key name, the attribute keys written and the
 * problem code; never a value (values may be personal data).
 * Routes declared with `logLevel: 'silent'` (health checks) write nothing.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(err: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = { method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), caller: req.caller, code: reply.problemCode, keys: reply.loggedKeys }
    if (err) req.log.error({ ...line, err }, 'request failed')
    else req.log.info(line, 'request')
  }
}
