import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { KEEP_SETTLED_MS } from './delivery.ts'
import { redisKeys } from './keys.ts'
import { script, type RedisClient } from './redis.ts'

/** Which failed updates were sent again, and as what. */
export interface ResendLedger {
  /** Marks `id` as being resent; the resend already made (or under way: '') when it was. */
  claim(id: string): Promise<string | undefined>
  done(id: string, as: string): Promise<void>
  release(id: string): Promise<void>
}

export class MemoryResendLedger implements ResendLedger {
  readonly #marks = new Map<string, { as: string; at: number }>()
  readonly clock: Clock
  constructor (clock: Clock) { this.clock = clock }

  async claim (id: string): Promise<string | undefined> {
    const now = this.clock.now()
    const seen = this.#marks.get(id)
    if (seen !== undefined && seen.at > now - KEEP_SETTLED_MS) return seen.as
    if (this.#marks.size > 100_000) for (const [k, v] of this.#marks) if (v.at <= now - KEEP_SETTLED_MS) this.#marks.delete(k)
    this.#marks.set(id, { as: '', at: now })
    return undefined
  }

  async done (id: string, as: string): Promise<void> {
    this.#marks.set(id, { as, at: this.clock.now() })
  }

  async release (id: string): Promise<void> {
    this.#marks.delete(id)
  }
}

// Frees a claim only while the mark is still this claim's own: a DEL that ioredis sends again
// after another call claimed the same update would free that claim too. KEYS: the mark; ARGV: ours.
const RELEASE = script(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`)

export class RedisResendLedger implements ResendLedger {
  readonly redis: RedisClient
  readonly prefix: string
  /** The marks of this process's claims under way, by update id. */
  readonly #mine = new Map<string, string>()
  constructor (redis: RedisClient, prefix: string) {
    this.redis = redis
    this.prefix = prefix
  }

  readonly #key = (id: string) => redisKeys(this.prefix).async.resent(id)
  /**
   * The mark under way is this claim's own (`~<uuid>`): a SET that ioredis sends again after a
   * reconnect finds its first sending's mark and takes it as its own, instead of refusing its
   * caller as "already being resent" for the day.
   */
  async claim (id: string): Promise<string | undefined> {
    const mine = `~${randomUUID()}`
    const taken = await this.redis.set(this.#key(id), mine, 'PX', KEEP_SETTLED_MS, 'NX') === 'OK'
    const seen = taken ? mine : ((await this.redis.get(this.#key(id))) ?? '')
    if (seen === mine) {
      this.#mine.set(id, mine)
      return undefined
    }
    return seen.startsWith('~') ? '' : seen
  }

  async done (id: string, as: string): Promise<void> {
    this.#mine.delete(id)
    await this.redis.set(this.#key(id), as, 'PX', KEEP_SETTLED_MS)
  }

  async release (id: string): Promise<void> {
    const mine = this.#mine.get(id)
    this.#mine.delete(id)
    if (mine !== undefined) await RELEASE(this.redis, [this.#key(id)], [mine])
  }
}
