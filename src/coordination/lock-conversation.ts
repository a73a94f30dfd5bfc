import type { Clock } from '../clock.ts'
import { redisKeys, type RedisKeys } from './keys.ts'
import { RedisLock, type Lease } from './lock.ts'
import type { RedisClient } from './redis.ts'

/**
 * Exclusive right to write to a conversation across replicas (Redis); absent when this process
 * is the only writer and its lanes are enough.
 */
export interface ConversationLock {
  /** Resolves once held; rejects with DEADLINE_EXCEEDED or COORDINATION_UNAVAILABLE. */
  acquire(conversationId: string, deadline: number): Promise<Lease>
}

export interface ConversationLockOptions {
  /** Namespace of this deployment's keys. */
  prefix: string
  /** A holder that dies keeps the conversation for at most this long. */
  leaseMs: number
  /** How often a waiting instance asks again. */
  retryMs?: number
  clock?: Clock
}

/** One writer per conversation across every replica: the shared lock (src/coordination/lock.ts), on the conversation's key. */
export class RedisConversationLock implements ConversationLock {
  readonly #lock: RedisLock
  readonly #keys: RedisKeys

  constructor (redis: RedisClient, opts: ConversationLockOptions) {
    this.#keys = redisKeys(opts.prefix)
    this.#lock = new RedisLock(redis, { leaseMs: opts.leaseMs, retryMs: opts.retryMs, clock: opts.clock, busy: 'another instance was writing to this conversation' })
  }

  /** On the conversation's key, hash-tagged as its order keys are (keys.ts): on a Redis Cluster one slot holds them all. */
  acquire (conversationId: string, deadline: number): Promise<Lease> {
    return this.#lock.acquire(this.#keys.lock(conversationId), deadline)
  }
}
