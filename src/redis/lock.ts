import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { Mutex, TimeoutError } from 'redis-semaphore'
import { ApiError, coordinationUnavailable } from '../errors.js'
import type { ConversationLock, Lease } from '../updates/queue.js'

export interface LockOptions {
  /** Namespace of this deployment's keys. */
  prefix: string
  /** A holder that dies keeps the conversation for at most this long. */
  leaseMs: number
  /** How often a waiting instance asks again. */
  retryMs?: number
}

/**
 * One writer per conversation across every replica: a redis-semaphore mutex per conversation,
 * its lease refreshed while the holder works, so a slow write keeps it and a dead holder loses
 * it within `leaseMs`. An instance that just released a conversation waits one retry interval
 * before taking it again, so the other replicas' waiters get their turn.
 */
export class RedisConversationLock implements ConversationLock {
  readonly #redis: Redis
  readonly #leaseMs: number
  readonly #retryMs: number
  readonly #released = new Map<string, number>()
  readonly #prefix: string

  constructor(redis: Redis, opts: LockOptions) {
    this.#redis = redis
    this.#leaseMs = opts.leaseMs
    this.#retryMs = opts.retryMs ?? 10
    this.#prefix = opts.prefix
  }

  async acquire(conversationId: string, deadline: number): Promise<Lease> {
    const turn = (this.#released.get(conversationId) ?? 0) + 2 * this.#retryMs - Date.now()
    if (turn > 0) await sleep(turn)
    let lost = false
    const mutex = new Mutex(this.#redis, `${this.#prefix}conversation:${conversationId}`, {
      lockTimeout: this.#leaseMs,
      refreshInterval: Math.floor(this.#leaseMs / 3),
      acquireTimeout: Math.max(1, deadline - Date.now()),
      retryInterval: this.#retryMs,
      onLockLost: () => {
        lost = true
      },
    })
    try {
      await mutex.acquire()
    } catch (err) {
      if (err instanceof TimeoutError) throw new ApiError('DEADLINE_EXCEEDED', 'another instance was writing to this conversation until the deadline passed')
      throw coordinationUnavailable(err)
    }
    return {
      get held() {
        return !lost && mutex.isAcquired
      },
      release: async () => {
        this.#released.set(conversationId, Date.now())
        setTimeout(() => this.#released.delete(conversationId), 2 * this.#retryMs).unref()
        await mutex.release().catch(() => {}) // an unreachable Redis lets the lease run out instead
      },
    }
  }
}
