/**
 * The lock: a lease on a Redis key, renewed while held. A conversation's writer
 * (lock-conversation.ts) and the OAuth token's refresh (token-redis.ts) both take it.
 */
import { randomUUID } from 'node:crypto'
import { systemClock, type Clock } from '../clock.ts'
import { script, type RedisClient } from './redis.ts'
import { ApiError, coordinationUnavailable } from '../errors.ts'

/** A lock held: while `held`, nobody else holds it. */
export interface Lease {
  /** False once the lease could not be kept (Redis unreachable): nothing may be done under it then. */
  readonly held: boolean
  release(): Promise<void>
}

export interface LockOptions {
  /** A holder that dies keeps the lock for at most this long. */
  leaseMs: number
  /** How often a waiting instance asks again. */
  retryMs?: number
  clock?: Clock
  /** What the holder was doing, for the DEADLINE_EXCEEDED of one who waited in vain. */
  busy?: string
}

// KEYS: the lock. ARGV: the holder's token, the lease (ms). SET NX PX, except that a key already
// holding the token is taken too: ioredis sends a command again when the connection broke before
// its answer came, and a SET NX run twice would find its own key and wait for it to lapse.
const TAKE = script('pdgLockTake', `
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return 1 end
if held then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// KEYS: the lock. ARGV: the holder's token, the lease (ms; 0 to let go). Only while it is still
// the holder's: renewing extends it, letting go deletes it. 1 when it was, 0 when not.
const KEEP = script('pdgLockKeep', `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('del', KEYS[1]) end
return redis.call('pexpire', KEYS[1], ARGV[2])`)

/** Takes `key` for `token` for `leaseMs` when it is free, or already `token`'s: true when held. */
export async function takeKey (redis: RedisClient, key: string, token: string, leaseMs: number): Promise<boolean> {
  return Number(await TAKE(redis, [key], [token, leaseMs])) === 1
}

/** Deletes `key` only while it still holds `token`: true when it did. */
export async function letGo (redis: RedisClient, key: string, token: string): Promise<boolean> {
  return Number(await KEEP(redis, [key], [token, 0])) === 1
}

/**
 * A lock across every replica: a key set only if absent, holding a random token, with a lease
 * (TAKE), renewed every third of the lease. A lease counts as held only while its last renewal is
 * recent enough that it cannot have lapsed in Redis, so a replica cut off from Redis stops before
 * another can take over; a renewal that fails is not an error anywhere else. An instance that
 * just released a key waits two retry intervals before taking it again, so the other replicas'
 * waiters get their turn.
 */
export class RedisLock {
  readonly #redis: RedisClient
  readonly #leaseMs: number
  readonly #retryMs: number
  readonly #clock: Clock
  readonly #busy: string
  readonly #released = new Map<string, number>()

  constructor (redis: RedisClient, opts: LockOptions) {
    this.#redis = redis
    this.#leaseMs = opts.leaseMs
    this.#retryMs = opts.retryMs ?? 10
    this.#clock = opts.clock ?? systemClock
    this.#busy = opts.busy ?? 'another instance held the lock'
  }

  /** Resolves once `key` is held; rejects with DEADLINE_EXCEEDED or COORDINATION_UNAVAILABLE. */
  async acquire (key: string, deadline: number): Promise<Lease> {
    const clock = this.#clock
    const turn = (this.#released.get(key) ?? 0) + 2 * this.#retryMs - clock.now()
    if (turn > 0) await clock.sleep(turn)
    const token = randomUUID()
    // Redis starts the lease when the request arrives, which may be long before its answer is
    // read here (a stalled event loop): so the lease is counted from before it was sent.
    let renewed: number
    for (;;) {
      renewed = clock.now()
      let taken: boolean
      try {
        taken = await takeKey(this.#redis, key, token, this.#leaseMs)
      } catch (err) {
        throw coordinationUnavailable(err)
      }
      if (taken) break
      if (clock.now() + this.#retryMs >= deadline) throw new ApiError('DEADLINE_EXCEEDED', `${this.#busy} until the deadline passed`)
      await clock.sleep(this.#retryMs)
    }
    let lost = false
    const renew = clock.every(Math.floor(this.#leaseMs / 3), () => {
      const sent = clock.now()
      KEEP(this.#redis, [key], [token, this.#leaseMs]).then(
        (ok) => (Number(ok) === 1 ? (renewed = Math.max(renewed, sent)) : (lost = true)),
        () => {} // unreachable: `held` turns false once the lease may have lapsed
      )
    })
    const safeMs = this.#leaseMs - Math.floor(this.#leaseMs / 6)
    return {
      get held () {
        return !lost && clock.now() - renewed < safeMs
      },
      release: async () => {
        renew.cancel()
        this.#released.set(key, clock.now())
        clock.after(2 * this.#retryMs, () => this.#released.delete(key), { keepAlive: false })
        await letGo(this.#redis, key, token).catch(() => {}) // an unreachable Redis lets the lease run out instead
      },
    }
  }
}
