// The ways the simulator answers a failure, shaped as Genesys shapes them.
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { SimStats } from './stats.ts'

/** Genesys's ErrorBody. */
export function fail (reply: FastifyReply, status: number, code: string, message: string) {
  return reply.status(status).send({ message, code, status, messageWithParams: message, messageParams: {}, contextId: randomUUID(), details: [], errors: [] })
}

/**
 * A 429 as Genesys sends it since 2021: `Retry-After` (seconds) and the body code
 * `too.many.requests.retry.after`, nothing more. It no longer sends its rate-limit
 * headers, on this answer or any other, so nothing here says what the limit is.
 */
export function tooManyRequests (stats: SimStats, reply: FastifyReply, retryAfterSeconds: number) {
  stats.rateLimited++
  reply.header('retry-after', retryAfterSeconds)
  return fail(reply, 429, 'too.many.requests.retry.after', `Rate limit exceeded the maximum. Retry the request in [${retryAfterSeconds}] seconds`)
}

/** The socket goes away with no HTTP answer, as when a load balancer or the network gives up. */
export function drop (req: FastifyRequest, reply: FastifyReply) {
  reply.hijack()
  req.raw.socket.destroy()
}
