import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { KEEP_SETTLED_MS } from './delivery.ts'
import { redisKeys, type RedisKeys } from './keys.ts'
import { letGo, takeKey } from './lock.ts'
import type { RedisClient } from './redis.ts'

/** A failed update claimed for a resend: this call's own mark, or the resend already made ('' while one is under way). */
export type ResendClaim = { mark: string } | { resentAs: string }

/** Which failed updates were sent again, and as what. */
export interface ResendLedger {
  /** Marks `id` as being resent by this call, for the day. */
  claim(id: string): Promise<ResendClaim>
  /** The resend was accepted as `as`: a later claim learns it. */
  done(id: string, as: string): Promise<void>
  /** The resend was refused: the claim `mark` is given up, so the update may be sent again. */
  release(id: string, mark: string): Promise<void>
}

export class MemoryResendLedger implements ResendLedger {
  readonly #marks = new Map<string, { as: string; at: number }>()
  readonly #clock: Clock
  constructor (clock: Clock) { this.#clock = clock }

  async claim (id: string): Promise<ResendClaim> {
    const now = this.#clock.now()
    const seen = this.#marks.get(id)
    if (seen !== undefined && seen.at > now - KEEP_SETTLED_MS) return { resentAs: seen.as.startsWith('~') ? '' : seen.as }
    if (this.#marks.size > 100_000) for (const [k, v] of this.#marks) if (v.at <= now - KEEP_SETTLED_MS) this.#marks.delete(k)
    const mark = `~${randomUUID()}`
    this.#marks.set(id, { as: mark, at: now })
    return { mark }
  }

  async done (id: string, as: string): Promise<void> {
    this.#marks.set(id, { as, at: this.#clock.now() })
  }

  async release (id: string, mark: string): Promise<void> {
    if (this.#marks.get(id)?.as === mark) this.#marks.delete(id)
  }
}

/**
 * The claim is the shared lock's take and let-go (lock.ts), on the update's mark with a day's
 * lease: a claim ioredis sends again after a reconnect finds its own mark (`~<uuid>`) and takes it
 * as its own, and a release sent again after another call claimed the update leaves that claim alone.
 */
export class RedisResendLedger implements ResendLedger {
  readonly #redis: RedisClient
  readonly #keys: RedisKeys
  constructor (redis: RedisClient, prefix: string) {
    this.#redis = redis
    this.#keys = redisKeys(prefix)
  }

  async claim (id: string): Promise<ResendClaim> {
    const key = this.#keys.async.resent(id)
    const mark = `~${randomUUID()}`
    if (await takeKey(this.#redis, key, mark, KEEP_SETTLED_MS)) return { mark }
    const seen = (await this.#redis.get(key)) ?? ''
    return { resentAs: seen.startsWith('~') ? '' : seen }
  }

  async done (id: string, as: string): Promise<void> {
    await this.#redis.set(this.#keys.async.resent(id), as, 'PX', KEEP_SETTLED_MS)
  }

  async release (id: string, mark: string): Promise<void> {
    await letGo(this.#redis, this.#keys.async.resent(id), mark)
  }
}
