import type { ErrorCode } from '../errors.ts'
import type { Attributes, Target } from '../domain.ts'

export type DeliveryState = 'queued' | 'retrying' | 'written' | 'failed'

/** The problem that settled an update `failed`. */
export type Settling = { code: ErrorCode; status: number; detail: string }

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
  /** With tracing on, its acceptance's W3C traceparent, which each attempt's span links to. */
  traceparent?: string
  /** Its key has a callbackUrl, so settling it puts its event on the callbacks' due list. */
  callback?: true
  /** The failed update this one sends again (POST /updates/{id}/retry). */
  retryOf?: string
  /**
   * Settled failed with its values kept, so they can be sent again. One settled before
   * (its values blanked) lacks it: sending its blanks would clear the caller's attributes.
   */
  valuesKept?: true
}

/** Stored; or refused, the backlog being full in all or for the update's caller. */
export type Acceptance = true | 'backlog' | 'share'

/** `next`: more items follow, from this offset. */
export type Page = { items: Delivery[]; next?: number }

/**
 * A conversation taken for one attempt, by this replica alone until `until` (epoch ms, this
 * replica's clock): its lease, counted from before the claim was sent, so never later than the
 * store holds it whenever the answer came. `lease` is the store's own mark of it (in Redis, on
 * Redis's clock), by which `finish` knows the claim still holds.
 */
export type Claim = { conversationId: string; until: number; lease: number }

/**
 * Where accepted updates live until they settle and for a day after: this process's memory
 * (sandbox and development, not durable) or Redis (durable, shared by replicas). Beside the
 * updates it keeps the due list: each conversation with updates not yet settled, and when it is
 * next to be attempted. Every pending update's conversation is on it, always: accepting puts it
 * there in the same step as the update, and only the end of an attempt that left nothing
 * pending takes it off.
 */
export interface DeliveryStore {
  /**
   * Stores a new update, its conversation due now unless already on the list. Nothing is stored
   * when `maxBacklog` updates wait in all ('backlog'), or `maxPerCaller` of its caller's ('share').
   */
  accept(delivery: Delivery, maxBacklog: number, maxPerCaller?: number): Promise<Acceptance>
  /** Up to `limit` conversations due now, each claimed: due again (to anyone) only once `leaseMs` have passed. */
  claim(leaseMs: number, limit: number): Promise<Claim[]>
  /** A conversation's updates not yet settled, in its order of acceptance. */
  pending(conversationId: string): Promise<Delivery[]>
  /**
   * Records an attempt's outcome and ends its claim, if still held: the conversation leaves the
   * list when nothing of it is pending, is due at once when updates came that the attempt did not
   * carry, and else at `retryAt`. A settled update is never changed again.
   */
  finish(claim: Claim, deliveries: Delivery[], retryAt: number): Promise<void>
  get(id: string): Promise<Delivery | undefined>
  /** A caller's failed updates, newest accepted first. */
  list(caller: string, state: 'failed', offset: number, limit: number): Promise<Page>
  /** A caller's latest updates in any state, newest accepted first; only one conversation's when given. */
  recent(caller: string, limit: number, conversationId?: string): Promise<Delivery[]>
  /** Updates accepted and not yet settled, and when the oldest of them was accepted. */
  backlog(): Promise<{ count: number; oldest?: number }>
}

/** How many of a caller's (and of a caller's per conversation) latest updates `recent` can return. */
export const RECENT_KEPT = 100

export const KEEP_SETTLED_MS = 24 * 60 * 60 * 1000

export const settled = (d: Delivery) => d.state === 'written' || d.state === 'failed'

/** The highest sequence among these: updates accepted after them have larger ones. */
export const highestSeq = (ds: Delivery[]) => Math.max(0, ...ds.map((d) => d.seq))

/**
 * What a store keeps: values may be personal data and are needed only until the update is
 * written (or, failed, sent again); for the day after, the keys are enough (the status shows
 * keys, never values).
 */
export function toKeep (d: Delivery): Delivery {
  // A failed one keeps them for its day: POST /updates/{id}/retry sends them again (docs/crm.md, "Outcome callbacks").
  if (d.state === 'failed') return { ...d, valuesKept: true }
  if (!settled(d)) return d
  const changes: Delivery['changes'] = {}
  for (const key of Object.keys(d.changes)) changes[key] = ''
  return { ...d, changes }
}
