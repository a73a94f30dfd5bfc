import type { Attributes } from '../attributes/body.js'
import type { ErrorCode } from '../errors.js'
import type { Target } from '../updates/ports.js'

export type DeliveryState = 'queued' | 'retrying' | 'written' | 'failed'

/** The problem that settled an update `failed`. */
export interface Settling {
  code: ErrorCode
  status: number
  detail: string
}

/** An accepted asynchronous update, as stored until it settles and for 24 h after. */
export interface Delivery {
  id: string
  /** The API key's name that submitted it ('' when auth is off): the only one that may read it. */
  caller: string
  state: DeliveryState
  conversationId: string
  /** Known from the start for a participant write; for a conversation write, once written. */
  participantId?: string
  target: Target
  changes: Attributes
  /** Its place in its conversation's order of acceptance: per key, the value accepted last stands. */
  seq: number
  /** Delivery attempts so far: submissions to the write pipeline, which retries brief failures itself. */
  attempts: number
  /** Epoch ms. */
  acceptedAt: number
  settledAt?: number
  error?: Settling
  /**
   * With tracing on, the W3C traceparent of its acceptance (ids and flags, nothing else), which
   * each delivery attempt's span links to; absent with tracing off.
   */
  traceparent?: string
}

export interface Page {
  items: Delivery[]
  /** More items follow, from this offset. */
  next?: number
}

/**
 * Where accepted updates live until they settle and for a day after: this process's memory
 * (sandbox and development, not durable) or Redis (durable, shared by replicas).
 */
export interface DeliveryStore {
  /**
   * Stores a new update, unless `maxBacklog` updates already wait ('full': nothing is stored).
   * 'joined' when a delivery attempt already due for its conversation has not started yet, and
   * so will carry it; 'stored' when its conversation needs one.
   */
  add(delivery: Delivery, maxBacklog: number): Promise<'full' | 'stored' | 'joined'>
  get(id: string): Promise<Delivery | undefined>
  /** A conversation's updates not yet settled, in its order of acceptance: an attempt starts. */
  pending(conversationId: string): Promise<Delivery[]>
  /** Forgets an update whose acceptance failed half way (it was never answered 202). */
  discard(delivery: Delivery): Promise<void>
  /** Records changes of state (an attempt, a retry, the settling), all at once. */
  save(deliveries: Delivery[]): Promise<void>
  /** A caller's updates in one state, newest accepted first. */
  list(caller: string, state: 'failed', offset: number, limit: number): Promise<Page>
  /** A caller's latest updates in any state, newest accepted first; only one conversation's when given. */
  recent(caller: string, limit: number, conversationId?: string): Promise<Delivery[]>
  /**
   * The conversations of up to `limit` updates not yet settled, accepted after `from` and before
   * `before` (epoch ms), oldest first; `last`: when the last of them was accepted, where the
   * next page starts (undefined when there is none).
   */
  stale(from: number, before: number, limit: number): Promise<{ conversations: string[]; last?: number }>
  /** Updates accepted and not yet settled. */
  backlog(): Promise<number>
  /** When the oldest of them was accepted (epoch ms); undefined when none waits. */
  oldestPending(): Promise<number | undefined>
  /** Stops its own timers, if any. */
  close?(): void
}

/** How many of a caller's (and of a caller's per conversation) latest updates `recent` can return. */
export const RECENT_KEPT = 100

/** How long a settled update stays readable. */
export const KEEP_SETTLED_MS = 24 * 60 * 60 * 1000

export const settled = (d: Delivery) => d.state === 'written' || d.state === 'failed'

/**
 * What a store keeps: values may be personal data and are needed only until the update settles;
 * for the day after, the keys are enough (the status shows keys, never values).
 */
export function toKeep (d: Delivery): Delivery {
  if (!settled(d)) return d
  const changes: Delivery['changes'] = {}
  for (const key of Object.keys(d.changes)) changes[key] = ''
  return { ...d, changes }
}
