// Client-credentials tokens: who may get one, which ones are valid, and revoking them all.
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { SimSettings } from './options.ts'
import { fail } from './replies.ts'
import type { SimStats } from './stats.ts'

export interface Tokens {
  /** Whether a token request's `Authorization` names the simulator's client. */
  isClient(authorization: string | undefined): boolean
  issue(): { access_token: string; token_type: 'bearer'; expires_in: number }
  /** The request's bearer token when it is valid; otherwise a 401 is sent. */
  authorized(req: FastifyRequest, reply: FastifyReply): string | undefined
  revokeAll(): void
}

export function createTokens ({ clientId, clientSecret, tokenTtlSeconds, clock }: SimSettings, stats: SimStats): Tokens {
  const expectedBasic = 'Basic ' + Buffer.from(`${clientId}:${clientSecret}`).toString('base64')
  const expiries = new Map<string, number>() // token → expiry (ms)
  return {
    isClient: (authorization) => authorization === expectedBasic,
    issue () {
      const token = randomUUID()
      expiries.set(token, clock() + tokenTtlSeconds * 1000)
      return { access_token: token, token_type: 'bearer', expires_in: tokenTtlSeconds }
    },
    authorized (req, reply) {
      const auth = req.headers.authorization ?? ''
      const token = auth.startsWith('Bearer ') ? auth.slice(7) : ''
      const expiry = expiries.get(token)
      if (expiry !== undefined && clock() < expiry) return token
      stats.unauthorized++
      fail(reply, 401, 'bad.credentials', 'Invalid login credentials.')
      return undefined
    },
    revokeAll: () => expiries.clear(),
  }
}
