import type { Clock } from '../clock.ts'
import { RedisLock } from './lock.ts'
import type { RedisClient } from './redis.ts'
import { redisKeys } from './keys.ts'
import { coordinationUnavailable } from '../errors.ts'
import type { CachedToken, TokenStore } from './token.ts'

/** One OAuth token for every replica, refreshed by one of them while the others wait for it. */
export class RedisTokenStore implements TokenStore {
  readonly #redis: RedisClient
  readonly #key: string
  readonly #refreshKey: string
  readonly #waitMs: number
  readonly #clock: Clock
  /** Held by the replica fetching a new token, while the others wait for it. */
  readonly #refreshing: RedisLock

  /**
   * `waitMs`: how long a replica waits for another's refresh (the token request's own timeout).
   * `clock`: the one the tokens' `refreshAt` is on (the token provider's).
   */
  constructor (redis: RedisClient, prefix: string, waitMs: number, clock: Clock) {
    this.#redis = redis
    this.#clock = clock
    // In the slot of the request budget ({genesys-api}): what every write needs, together.
    const keys = redisKeys(prefix)
    this.#key = keys.token
    this.#refreshKey = keys.tokenRefresh
    this.#waitMs = waitMs
    this.#refreshing = new RedisLock(redis, { leaseMs: waitMs + 5000, retryMs: 25, clock, busy: 'another instance was fetching the OAuth token' })
  }

  /** The node that holds the token holds every write's budget too ({genesys-api}): asked, it must answer. */
  async reachable (): Promise<void> {
    await this.#redis.exists(this.#key).catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
  }

  async get (): Promise<CachedToken | undefined> {
    const raw = await this.#redis.get(this.#key).catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
    return raw === null ? undefined : (JSON.parse(raw) as CachedToken)
  }

  async refresh (fetch: () => Promise<CachedToken>, isUsable: (t: CachedToken) => boolean): Promise<CachedToken> {
    // Rejects COORDINATION_UNAVAILABLE, or DEADLINE_EXCEEDED when another replica's fetch outlasts the wait.
    const lease = await this.#refreshing.acquire(this.#refreshKey, this.#clock.now() + this.#waitMs + 5000)
    try {
      // Another replica may have refreshed while we waited for the lock.
      const stored = await this.get()
      if (stored !== undefined && isUsable(stored)) return stored
      const token = await fetch()
      const ttl = Math.max(1, Math.round(token.refreshAt - this.#clock.now()))
      await this.#redis.set(this.#key, JSON.stringify(token), 'PX', ttl).catch(() => {})
      return token
    } finally {
      await lease.release()
    }
  }

  async drop (value: string): Promise<void> {
    const stored = await this.get().catch(() => undefined)
    if (stored?.value === value) await this.#redis.del(this.#key).catch(() => {})
  }
}
