// The ways the simulator answers a failure, shaped as Genesys shapes them.
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { SimStats } from './stats.js'

/** Genesys's ErrorBody. */
export function fail (reply: FastifyReply, status: number, code: string, message: string) {
  return reply.status(status).send({ message, code, status, messageWithParams: message, messageParams: {}, contextId: randomUUID(), details: [], errors: [] })
}

/** A 429 with the headers Genesys sends: `Retry-After` and the `inin-ratelimit-*` trio. */
export function tooManyRequests (stats: SimStats, reply: FastifyReply, allowed: number, count: number, resetSeconds: number) {
  stats.rateLimited++
  reply.headers({ 'retry-after': resetSeconds, 'inin-ratelimit-allowed': allowed, 'inin-ratelimit-count': count, 'inin-ratelimit-reset': resetSeconds })
  return fail(reply, 429, 'too.many.requests', `Rate limit exceeded the maximum. [${allowed}] requests allowed.`)
}

/** The socket goes away with no HTTP answer, as when a load balancer or the network gives up. */
export function drop (req: FastifyRequest, reply: FastifyReply) {
  reply.hijack()
  req.raw.socket.destroy()
}
