import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.ts'
import type { RedisClient } from './redis.ts'
import { redisKeys } from './keys.ts'

/**
 * Which request each signature was first seen on. A signature covers the body, not the URL, so
 * a captured request could otherwise be sent, within its five minutes, to another conversation.
 * The first URL a signature arrives with is kept for as long as the signature is fresh; a
 * signature that comes again with another method or URL is a replay. The same one again is a
 * retry, answered by the idempotency store.
 */
export interface ReplayStore {
  /** The method and URL `signature` was first seen with: `request` itself the first time. */
  first(signature: string, request: string, ttlMs: number): Promise<string>
}

/** In this process, for a single replica. Full, it forgets the oldest first (IDEMPOTENCY_MAX_KEYS). */
export class MemoryReplayStore implements ReplayStore {
  readonly #seen: LRUCache<string, string>

  constructor (max: number, clock: Clock) {
    // ttlResolution 0: lru-cache would otherwise cache `now` for a millisecond on a real timer.
    this.#seen = new LRUCache({ max, ttl: 1, ttlResolution: 0, perf: { now: clock.now } })
  }

  async first (signature: string, request: string, ttlMs: number): Promise<string> {
    const seen = this.#seen.get(signature)
    if (seen !== undefined) return seen
    this.#seen.set(signature, request, { ttl: ttlMs })
    return request
  }
}

/** In Redis, so a replay sent to another replica is recognised too. */
export class RedisReplayStore implements ReplayStore {
  readonly redis: RedisClient
  readonly prefix: string
  constructor (redis: RedisClient, prefix: string) {
    this.redis = redis
    this.prefix = prefix
  }

  async first (signature: string, request: string, ttlMs: number): Promise<string> {
    const key = redisKeys(this.prefix).signature(createHash('sha256').update(signature).digest('base64url'))
    // SET NX then GET: the GET only runs when another request got there first, and the key
    // outlives both calls (its TTL is at least the signature's remaining freshness). A SET sent
    // again after a reconnect finds the request its first sending stored, and answers it too.
    if ((await this.redis.set(key, request, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK') return request
    return (await this.redis.get(key)) ?? request
  }
}
