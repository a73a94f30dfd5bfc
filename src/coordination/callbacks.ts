import { createHash } from 'node:crypto'
import type { Delivery } from './delivery.ts'

export type CallbackStateName = 'pending' | 'delivered' | 'failed'

/** Where one update's event stands; absent from a store until its first attempt (pending, none made). */
export interface CallbackState {
  id: string
  state: CallbackStateName
  attempts: number
  /** Epoch ms. */
  lastAttemptAt?: number
  /** The receiver's last HTTP status; 0 when no answer came (refused, timed out, address refused). */
  lastStatus?: number
  /** Why the last attempt did not count, in words; never the receiver's body. */
  lastError?: string
  nextAttemptAt?: number
  deliveredAt?: number
}

/**
 * A due event taken by this replica until `until` (its clock, counted from before the claim was
 * sent); `lease`: the store's own mark of the claim, when it keeps one (on Redis's clock).
 */
export type CallbackClaim = { id: string; until: number; lease?: number }

/**
 * The events' due list and their states. Memory and Redis side by side (callbacks-memory.ts,
 * callbacks-redis.ts); in Redis the due list lives beside the updates, under their slot tag, so
 * the delivery store's settle step adds to it atomically.
 */
export interface CallbackStore {
  /** Memory only: an update settled (Redis does it in the settle step itself). */
  settled?(d: Delivery, now: number): void
  /** Up to `limit` events due by `now`, each due again (to anyone) only at now + leaseMs. */
  claim(now: number, leaseMs: number, limit: number): Promise<CallbackClaim[]>
  get(id: string): Promise<CallbackState | undefined>
  /**
   * Records an attempt: the state is kept (a day); a pending one is due again at its
   * nextAttemptAt, a final one leaves the list. The list is changed only while the claim holds.
   */
  record(claim: CallbackClaim, state: CallbackState): Promise<void>
  /** A 410 from this key's receiver at this URL: its callbacks stop until the URL changes. */
  stop(caller: string, url: string): Promise<void>
  stopped(caller: string, url: string): Promise<boolean>
  /** Events not yet delivered or given up. */
  backlog(): Promise<{ count: number }>
}

/** A callback URL's fingerprint: a 410 stops callbacks to this URL, not to the next one configured. */
export const urlMark = (url: string) => createHash('sha256').update(url).digest('hex').slice(0, 16)
