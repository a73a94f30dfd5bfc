// Genesys's per-token request budget: at most `requests` in any window-long interval (a sliding
// log of each token's request times), 429 past it. As Genesys does since 2021, no answer says
// where the token stands (its rate-limit headers were retired): a client learns only from a 429.
import type { FastifyReply } from 'fastify'
import type { SimSettings } from './options.ts'
import { tooManyRequests } from './replies.ts'
import type { SimStats } from './stats.ts'

/** Genesys's per-token default, as the Limits API names it. */
export const GENESYS_TOKEN_BUDGET = 300

export interface Budget {
  /** Counts an API request against its token's window; true (and a 429 sent) once the window's budget is spent. */
  spent(token: string, reply: FastifyReply): boolean
  /** Forgets every window, as when the tokens they belong to are revoked. */
  clear(): void
}

export function createBudget ({ rateLimit, clock }: Pick<SimSettings, 'rateLimit' | 'clock'>, stats: SimStats): Budget {
  const logs = new Map<string, number[]>() // token → times of the requests it was allowed, oldest first
  return {
    spent (token, reply) {
      if (rateLimit === undefined) return false
      const { requests, windowMs } = rateLimit
      const at = clock()
      let log = logs.get(token)
      if (log === undefined) logs.set(token, (log = []))
      // A request at t counts in [t, t + window).
      while (log.length > 0 && log[0]! <= at - windowMs) log.shift()
      if (log.length < requests) {
        log.push(at)
        return false
      }
      // Refused requests are not logged (a client that waits out Retry-After gets through then).
      // Retry-After: whole seconds until the oldest request in the window leaves it.
      stats.overBudget++
      tooManyRequests(stats, reply, Math.max(1, Math.ceil((log[0]! + windowMs - at) / 1000)))
      return true
    },
    clear: () => logs.clear(),
  }
}
