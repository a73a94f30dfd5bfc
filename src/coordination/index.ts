/**
 * Coordination: what replicas share. Each port has its memory adapter (one process) and its Redis
 * adapter (replicas) side by side in this room, and `createStores` below is the one place that
 * chooses between them. Its concepts:
 * 1. **The key layout** (keys.ts): every Redis key, and the cluster slot it lives in.
 * 2. **The lock** (lock.ts): a lease on a key, renewed while held; a conversation's writer
 *    (lock-conversation.ts) and the OAuth token's refresh (token-redis.ts) both take it.
 * 3. **The budget's log** (budget-log.ts): the Genesys requests sent and answered, and what a 429
 *    taught, for every replica of one token (with the Limits API's reading, readings.ts).
 * 4. **The write order** (order.ts, journal.ts): per key, the value accepted last, and what the
 *    gateway wrote lately, so neither an older update nor a late read undoes a newer value.
 * 5. **Request keys** (idempotency.ts, replays.ts): an `Idempotency-Key`'s answer, a signature's first use.
 * 6. **The delivery store** (delivery.ts, callbacks.ts, resends.ts): asynchronous updates, their
 *    due lists and outcome callbacks, and which failed ones were sent again.
 * Every Redis command may be sent twice (a reconnect resends it): each script and claim is safe
 * twice (docs/redis.md, "Scripts"). Scripts are registered with ioredis's `defineCommand` (redis.ts).
 */
import type { Clock } from '../clock.ts'
import { MemoryBudgetLog, type BudgetLog, type LogSettings } from './budget-log.ts'
import { RedisBudgetLog } from './budget-log-redis.ts'
import type { CallbackStore } from './callbacks.ts'
import { MemoryCallbackStore } from './callbacks-memory.ts'
import { RedisCallbackStore } from './callbacks-redis.ts'
import type { DeliveryStore } from './delivery.ts'
import { MemoryDeliveryStore } from './delivery-memory.ts'
import { RedisDeliveryStore } from './delivery-redis.ts'
import type { IdempotencyStore } from './idempotency.ts'
import { MemoryIdempotencyStore } from './idempotency-memory.ts'
import { RedisIdempotencyStore } from './idempotency-redis.ts'
import { MemoryJournalStore, type JournalStore } from './journal.ts'
import { RedisJournalStore } from './journal-redis.ts'
import { RedisConversationLock, type ConversationLock } from './lock-conversation.ts'
import { MemoryOrder, type Order } from './order.ts'
import { RedisOrder } from './order-redis.ts'
import { MemoryReadingStore, RedisReadingStore, type ReadingStore } from './readings.ts'
import type { RedisClient } from './redis.ts'
import { MemoryReplayStore, RedisReplayStore, type ReplayStore } from './replays.ts'
import { MemoryResendLedger, RedisResendLedger, type ResendLedger } from './resends.ts'
import type { TokenStore } from './token.ts'
import { RedisTokenStore } from './token-redis.ts'

export { MemoryBudgetLog, type BudgetLog, type Grant, type LogSettings, type Standing } from './budget-log.ts'
export { RedisBudgetLog } from './budget-log-redis.ts'
export type { CallbackClaim, CallbackState, CallbackStateName, CallbackStore } from './callbacks.ts'
export { urlMark } from './callbacks.ts'
export { KEEP_SETTLED_MS, settled, type Claim, type Delivery, type DeliveryStore, type Page, type Settling } from './delivery.ts'
export type { IdempotencyStore } from './idempotency.ts'
export { MemoryJournalStore, type Entry, type JournalStore } from './journal.ts'
export type { Lease } from './lock.ts'
export type { ConversationLock } from './lock-conversation.ts'
export { latest, type Order, type Sequences } from './order.ts'
export type { Reading, ReadingStore } from './readings.ts'
export { connectRedis, clusterClient, clusterNodes, type RedisClient, type RedisClusterConfig } from './redis.ts'
export type { ReplayStore } from './replays.ts'
export type { ResendLedger } from './resends.ts'
export type { CachedToken, TokenStore } from './token.ts'

/** A Redis that replicas share, and the prefix of this deployment's keys in it. */
export interface Shared {
  client: RedisClient
  prefix: string
}

export interface StoreOptions {
  clock: Clock
  /** A conversation's writer that dies keeps it for at most this long. */
  lockLeaseMs: number
  /** How long one replica's token fetch may keep the others waiting. */
  tokenFetchMs: number
  /** `Idempotency-Key`s kept in memory (one process), and how long a key's first request may be under way. */
  idempotency: { maxKeys: number; pendingMs: number }
  /** Signatures remembered in memory (one process). */
  maxReplays: number
  /** An asynchronous update not written by then fails. */
  deliveryMaxAgeMs: number
}

/** Every port replicas share: in Redis when `shared` is given, else this process's own. */
export interface Stores {
  /** The Redis behind them, when there is one: readiness asks it, delivery checks its persistence. */
  readonly shared: Shared | undefined
  /** One writer per conversation across replicas; absent for one process, whose lanes suffice. */
  readonly lock: ConversationLock | undefined
  /** One OAuth token for every replica; absent for one process, which keeps its own. */
  readonly token: TokenStore | undefined
  readonly budgetLog: (settings: LogSettings) => BudgetLog
  readonly readings: ReadingStore
  readonly order: Order
  readonly journal: JournalStore
  readonly idempotency: IdempotencyStore
  readonly replays: ReplayStore
  readonly delivery: DeliveryStore
  readonly callbacks: CallbackStore
  readonly resends: ResendLedger
}

const DAY_MS = 86_400_000

/** The one place where memory or Redis is chosen. Nothing here connects or starts a timer. */
export function createStores (shared: Shared | undefined, o: StoreOptions): Stores {
  const { clock } = o
  if (shared === undefined) {
    return {
      shared,
      lock: undefined,
      token: undefined,
      budgetLog: (settings) => new MemoryBudgetLog(settings),
      readings: new MemoryReadingStore(clock),
      order: new MemoryOrder(),
      journal: new MemoryJournalStore(),
      idempotency: new MemoryIdempotencyStore({ max: o.idempotency.maxKeys, ttlMs: DAY_MS, clock }),
      replays: new MemoryReplayStore(o.maxReplays, clock),
      delivery: new MemoryDeliveryStore({ clock }),
      callbacks: new MemoryCallbackStore(),
      resends: new MemoryResendLedger(clock),
    }
  }
  const { client: redis, prefix } = shared
  return {
    shared,
    lock: new RedisConversationLock(redis, { prefix, leaseMs: o.lockLeaseMs, clock }),
    token: new RedisTokenStore(redis, prefix, o.tokenFetchMs, clock),
    budgetLog: (settings) => new RedisBudgetLog(redis, prefix, settings),
    readings: new RedisReadingStore(redis, prefix),
    order: new RedisOrder(redis, prefix),
    journal: new RedisJournalStore(redis, prefix),
    idempotency: new RedisIdempotencyStore(redis, { prefix, ttlMs: DAY_MS, pendingMs: o.idempotency.pendingMs, clock }),
    replays: new RedisReplayStore(redis, prefix),
    delivery: new RedisDeliveryStore(redis, { prefix, maxAgeMs: o.deliveryMaxAgeMs, clock }),
    callbacks: new RedisCallbackStore(redis, { prefix }),
    resends: new RedisResendLedger(redis, prefix),
  }
}
