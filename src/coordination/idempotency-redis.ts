import { createHash, randomUUID } from 'node:crypto'
import { systemClock, type Clock } from '../clock.ts'
import { script, type RedisClient } from './redis.ts'
import { coordinationUnavailable, idempotencyKeyInFlight } from '../errors.ts'
import type { KeyVerdict, IdempotencyStore, StoredAnswer } from './idempotency.ts'
import { redisKeys } from './keys.ts'

export interface RedisIdempotencyOptions {
  /** Namespace of this deployment's keys. */
  prefix: string
  ttlMs: number
  /** How long a request in flight holds its key, should its instance die before settling. */
  pendingMs: number
  pollMs?: number
  clock?: Clock
}

// Settle only the claim we hold: if ours expired and another request claimed the key since,
// leave theirs alone. Sent again after a reconnect, it finds the key settled (or freed, or
// another's) and changes nothing.
const SETTLE = script('pdgIdempotencySettle', `if redis.call('get', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then redis.call('del', KEYS[1]) else redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
end`)

interface Stored {
  fingerprint: string
  owner?: string
  answer?: StoredAnswer
}

/** Idempotency keys in RedisClient, so a repeat sent to another replica is recognised too. */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #redis: RedisClient
  readonly #opts: Required<RedisIdempotencyOptions>

  constructor (redis: RedisClient, opts: RedisIdempotencyOptions) {
    this.#redis = redis
    this.#opts = { pollMs: 50, clock: systemClock, ...opts }
  }

  async claim (key: string, fingerprint: string, deadline: number): Promise<KeyVerdict> {
    const k = redisKeys(this.#opts.prefix).idempotency(createHash('sha256').update(key).digest('base64url'))
    for (;;) {
      const pending = JSON.stringify({ fingerprint, owner: randomUUID() } satisfies Stored)
      let raw: string | null
      try {
        // A SET sent again after a reconnect finds the key its first sending took: ours all the same.
        raw = (await this.#redis.set(k, pending, 'PX', this.#opts.pendingMs, 'NX')) === 'OK' ? pending : await this.#redis.get(k)
      } catch (err) {
        throw coordinationUnavailable(err)
      }
      if (raw === pending) {
        return {
          kind: 'new',
          settle: async (answer) => {
            const done = answer === undefined ? '' : JSON.stringify({ fingerprint, answer } satisfies Stored)
            await SETTLE(this.#redis, [k], [pending, done, this.#opts.ttlMs]).catch(() => {}) // else it expires
          },
        }
      }
      if (raw === null) continue // settled as failed, or expired, between the two calls
      const stored = JSON.parse(raw) as Stored
      if (stored.fingerprint !== fingerprint) return { kind: 'mismatch' }
      if (stored.answer !== undefined) return { kind: 'replay', answer: stored.answer }
      if (this.#opts.clock.now() + this.#opts.pollMs >= deadline) throw idempotencyKeyInFlight()
      await this.#opts.clock.sleep(this.#opts.pollMs)
    }
  }
}
