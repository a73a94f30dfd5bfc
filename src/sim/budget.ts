// Genesys's per-token request budget: a fixed window per token, 429 once it is spent.
import type { FastifyReply } from 'fastify'
import type { SimSettings } from './options.js'
import { tooManyRequests } from './replies.js'
import type { SimStats } from './stats.js'

/** Genesys's per-token default, named in the headers of an injected 429 when no budget is set. */
const GENESYS_TOKEN_BUDGET = 300

export interface Budget {
  /** The requests a window allows, as an injected 429 reports it. */
  allowed: number
  /** Counts an API request against its token's window; true (and a 429 sent) once the window's budget is spent. */
  spent(token: string, reply: FastifyReply): boolean
  /** Forgets every window, as when the tokens they belong to are revoked. */
  clear(): void
}

export function createBudget ({ rateLimit, clock }: Pick<SimSettings, 'rateLimit' | 'clock'>, stats: SimStats): Budget {
  const windows = new Map<string, { start: number; count: number }>() // token → its current window
  return {
    allowed: rateLimit?.requests ?? GENESYS_TOKEN_BUDGET,
    spent (token, reply) {
      if (rateLimit === undefined) return false
      const at = clock()
      let w = windows.get(token)
      if (w === undefined || at >= w.start + rateLimit.windowMs) windows.set(token, (w = { start: at, count: 0 }))
      // Refused requests count too, as in a fixed-window counter: `inin-ratelimit-count` then exceeds the budget.
      if (++w.count <= rateLimit.requests) {
        // What the token has, on every answer, so a client (the doctor) can learn it without a 429.
        reply.headers({ 'inin-ratelimit-allowed': rateLimit.requests, 'inin-ratelimit-count': w.count, 'inin-ratelimit-reset': Math.ceil((w.start + rateLimit.windowMs - at) / 1000) })
        return false
      }
      stats.overBudget++
      tooManyRequests(stats, reply, rateLimit.requests, w.count, Math.ceil((w.start + rateLimit.windowMs - at) / 1000))
      return true
    },
    clear: () => windows.clear(),
  }
}
