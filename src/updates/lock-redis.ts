import { setTimeout as sleep } from 'node:timers/promises'
import { script, type RedisClient } from '../plugins/redis.js'
import { Mutex, TimeoutError } from 'redis-semaphore'
import { ApiError, coordinationUnavailable } from '../errors.js'
import type { ConversationLock, Lease } from './ports.js'

export interface LockOptions {
  /** Namespace of this deployment's keys. */
  prefix: string
  /** A holder that dies keeps the conversation for at most this long. */
  leaseMs: number
  /** How often a waiting instance asks again. */
  retryMs?: number
}

// Extend the lease only while it is still ours (the same check redis-semaphore makes).
const RENEW = script('if redis.call(\'get\', KEYS[1]) == ARGV[1] then return redis.call(\'pexpire\', KEYS[1], ARGV[2]) end return 0')

/**
 * One writer per conversation across every replica: a redis-semaphore mutex per conversation.
 * The lease is renewed here rather than by the library, whose renewal turns an unreachable
 * Redis into unhandled rejections and keeps reporting the lock as held: a lease counts as held
 * only while its last renewal is recent enough that it cannot have lapsed in RedisClient, so a replica
 * cut off from Redis stops writing before another can take over. An instance that just released
 * a conversation waits two retry intervals before taking it again, so the other replicas'
 * waiters get their turn.
 */
export class RedisConversationLock implements ConversationLock {
  readonly #redis: RedisClient
  readonly #leaseMs: number
  readonly #retryMs: number
  readonly #prefix: string
  readonly #released = new Map<string, number>()

  constructor (redis: RedisClient, opts: LockOptions) {
    this.#redis = redis
    this.#leaseMs = opts.leaseMs
    this.#retryMs = opts.retryMs ?? 10
    this.#prefix = opts.prefix
  }

  async acquire (conversationId: string, deadline: number): Promise<Lease> {
    const turn = (this.#released.get(conversationId) ?? 0) + 2 * this.#retryMs - Date.now()
    if (turn > 0) await sleep(turn)
    // Hash-tagged by conversation, as its order keys are: on a Redis Cluster one slot holds all three.
    const key = `${this.#prefix}{c:${conversationId}}:lock`
    const mutex = new Mutex(this.#redis, key, {
      lockTimeout: this.#leaseMs,
      refreshInterval: 0,
      acquireTimeout: Math.max(1, deadline - Date.now()),
      retryInterval: this.#retryMs,
    })
    try {
      await mutex.acquire()
    } catch (err) {
      if (err instanceof TimeoutError) throw new ApiError('DEADLINE_EXCEEDED', 'another instance was writing to this conversation until the deadline passed')
      throw coordinationUnavailable(err)
    }
    let renewed = Date.now()
    let lost = false
    const renew = setInterval(() => {
      // redis-semaphore keeps a mutex under `mutex:<key>`.
      RENEW(this.#redis, [`mutex:${key}`], [mutex.identifier, this.#leaseMs]).then(
        (ok) => (Number(ok) === 1 ? (renewed = Date.now()) : (lost = true)),
        () => {} // unreachable: `held` turns false once the lease may have lapsed
      )
    }, Math.floor(this.#leaseMs / 3))
    const safeMs = this.#leaseMs - Math.floor(this.#leaseMs / 6)
    return {
      get held () {
        return !lost && Date.now() - renewed < safeMs
      },
      release: async () => {
        clearInterval(renew)
        this.#released.set(conversationId, Date.now())
        setTimeout(() => this.#released.delete(conversationId), 2 * this.#retryMs).unref()
        await mutex.release().catch(() => {}) // an unreachable Redis lets the lease run out instead
      },
    }
  }
}
