import { GENESYS_API_TAG, type RedisClient } from '../plugins/redis.ts'
import { Mutex } from 'redis-semaphore'
import { coordinationUnavailable } from '../errors.ts'
import type { CachedToken, TokenStore } from './token.ts'

/** One OAuth token for every replica, refreshed by one of them while the others wait for it. */
export class RedisTokenStore implements TokenStore {
  readonly #redis: RedisClient
  readonly #key: string
  readonly #waitMs: number
  readonly #now: () => number

  /**
   * `waitMs`: how long a replica waits for another's refresh (the token request's own timeout).
   * `now`: the clock the tokens' `refreshAt` is on (the token provider's).
   */
  constructor (redis: RedisClient, prefix: string, waitMs: number, now: () => number = Date.now) {
    this.#redis = redis
    this.#now = now
    // In the slot of the request budget (see GENESYS_API_TAG): what every write needs, together.
    this.#key = `${prefix}token:${GENESYS_API_TAG}`
    this.#waitMs = waitMs
  }

  /** The node that holds the token holds every write's budget too (GENESYS_API_TAG): asked, it must answer. */
  async reachable (): Promise<void> {
    await this.#redis.exists(this.#key).catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
  }

  async get (): Promise<CachedToken | undefined> {
    const raw = await this.#redis.get(this.#key).catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
    return raw === null ? undefined : (JSON.parse(raw) as CachedToken)
  }

  async refresh (fetch: () => Promise<CachedToken>, isUsable: (t: CachedToken) => boolean): Promise<CachedToken> {
    const mutex = new Mutex(this.#redis, `${this.#key}:refresh`, { lockTimeout: this.#waitMs + 5000, acquireTimeout: this.#waitMs + 5000, retryInterval: 25 })
    try {
      await mutex.acquire()
    } catch (err) {
      throw coordinationUnavailable(err)
    }
    try {
      // Another replica may have refreshed while we waited for the lock.
      const stored = await this.get()
      if (stored !== undefined && isUsable(stored)) return stored
      const token = await fetch()
      const ttl = Math.max(1, Math.round(token.refreshAt - this.#now()))
      await this.#redis.set(this.#key, JSON.stringify(token), 'PX', ttl).catch(() => {})
      return token
    } finally {
      await mutex.release().catch(() => {})
    }
  }

  async drop (value: string): Promise<void> {
    const stored = await this.get().catch(() => undefined)
    if (stored?.value === value) await this.#redis.del(this.#key).catch(() => {})
  }
}
