import { merge } from '../attributes/merge.ts'
import type { Clock } from '../clock.ts'
import { chooseParticipant, type ChosenParticipant } from '../attributes/participant.ts'
import { ApiError, conversationEnded, coordinationUnavailable } from '../errors.ts'
import type { RateBudget, Reservation } from './budget.ts'
import { UpstreamError } from '../genesys/upstream-error.ts'
import { deadlineOf, hasLive, type Batch, type Lane, type Waiter } from './lane.ts'
import type { Journal } from './journal.ts'
import { latest, type Entry, type Order } from '../coordination/index.ts'
import type { Lease, Upstream, WriteResult } from './ports.ts'
import { backoff } from './retry.ts'
import type { Attributes, Conversation, Priority } from '../domain.ts'

/**
 * A write sent with less time than this left before its callers' deadline would most likely be
 * answered "outcome unknown"; those callers are told "not written" instead, while that is true.
 */
export const SEND_WINDOW_MS = 100

/**
 * Tries at recording what a write carried (invariant 7, docs/architecture.md) before it is reported as lost: enough for
 * a blip, few enough (under 100 ms in all) that a caller whose write landed is not kept waiting
 * long for its answer while Redis is down.
 */
const RECORD_ATTEMPTS = 3

/**
 * In merge mode, a PATCH sent this long after its read (it waited out a 429's pause, or a token)
 * reads again first: the longer the full map waits, the likelier it carries a value that someone
 * else has changed meanwhile back over theirs.
 */
export const REREAD_AFTER_MS = 500

export interface WriterOptions {
  /**
   * merge: read, merge, write the full map; right whether Genesys merges or replaces.
   * patch: write only the changes, one request per write; right only if Genesys merges per key.
   */
  mode: 'merge' | 'patch'
  budget: RateBudget
  order?: Order | undefined
  /** What this gateway wrote lately, so that a late read is not written back over it. */
  journal: Journal
  clock: Clock
  /** Refuse a write to a conversation found ended (ENDED_CONVERSATION_WRITES=refuse); only a read can find it. */
  refuseEnded: boolean
  /** A write's order record could not be stored: a late, older value could now overwrite what it wrote. */
  onUnordered?: ((conversationId: string, err: unknown) => void) | undefined
}

/** A read of the participant: when it came, and its map as the journal corrects it. */
interface Seen {
  at: number
  attributes: Attributes
  entries: Map<string, Entry> | undefined
}

/** Sends a request on a unit of the budget (Reservation.send, with its deadline). */
type Send<T> = (request: () => Promise<T>) => Promise<T>

/** One attempt at a batch's write: read, merge, and PATCH, within the send window and the lease. */
export class Writer {
  readonly #upstream: Upstream
  readonly #opts: WriterOptions

  constructor (upstream: Upstream, opts: WriterOptions) {
    this.#upstream = upstream
    this.#opts = opts
  }

  /**
   * Undefined when no caller is left to write for. `answerLate` answers a caller whose deadline
   * is too close to send for. Throws what Genesys answered (an UpstreamError) or the pipeline's
   * own refusal (an ApiError).
   */
  async attempt (
    conversationId: string,
    lane: Lane,
    batch: Batch,
    lock: () => Promise<Lease | undefined>,
    answerLate: (w: Waiter) => void
  ): Promise<WriteResult | undefined> {
    // patch mode (or an exact write): a known participant is written without reading it first.
    const reads = !('participantId' in batch.target && (this.#opts.mode === 'patch' || batch.target.exact === true))
    // The whole write's cost at once, so no read is made for a write the budget would refuse.
    const reservation = await this.#reserve(lane, batch, reads ? 2 : 1)
    if (reservation === undefined) return undefined
    try {
      // Units first, then the conversation's lock: a write waiting for budget would otherwise keep
      // the conversation from every other replica all that time, while they poll for it.
      const lease = await lock()
      return await this.#attempt(conversationId, batch, lease, answerLate, reads, reservation)
    } finally {
      reservation.release()
    }
  }

  async #attempt (
    conversationId: string,
    batch: Batch,
    lease: Lease | undefined,
    answerLate: (w: Waiter) => void,
    reads: boolean,
    reservation: Reservation
  ): Promise<WriteResult | undefined> {
    const { mode, clock } = this.#opts
    const exact = 'participantId' in batch.target && batch.target.exact === true
    let participant: ChosenParticipant
    let seen: Seen | undefined
    if (!reads) {
      participant = { id: (batch.target as { participantId: string }).participantId }
    } else {
      const deadline = deadlineOf(batch) - SEND_WINDOW_MS
      ;({ participant, seen } = await this.#read(conversationId, batch, (request) => reservation.send(deadline, request)))
    }
    if (batch.waiters.size === 0) return undefined
    // A token fetch is a wait like a pause: both come before the look at how old the read is. (The
    // budget makes sure of the token before dating any unit; here it is only asked sooner.)
    const preparing = this.#upstream.prepare?.()
    if (preparing !== undefined) await preparing
    // A pause Genesys asked for (a 429, on any replica) is waited out here, when the callers' deadline allows.
    await reservation.ready(deadlineOf(batch) - SEND_WINDOW_MS)
    const again = mode === 'merge' && seen !== undefined && clock.now() - seen.at > REREAD_AFTER_MS ? await this.#readAgain(conversationId, batch) : undefined
    if (again !== undefined) {
      ;({ participant, seen } = again)
      if (batch.waiters.size === 0) return undefined
    }
    if (!batch.mayHaveLanded) {
      for (const w of batch.waiters) if (w.deadline - clock.now() < SEND_WINDOW_MS) answerLate(w)
      if (batch.waiters.size === 0) return undefined
      // Built from the callers still waiting, at the moment of sending; once a PATCH may have
      // landed, its changes stay in every later attempt.
      const built = latest(batch.waiters)
      batch.changes = built.changes
      batch.seqs = built.seqs
    }
    // Checked under the conversation lock: keys a newer update has written meanwhile are left out.
    // Only a key with a sequence (an asynchronous update's) can be older than what was written:
    // a synchronous batch skips the check, and its round trip.
    const { order } = this.#opts
    const changes = order && Object.keys(batch.seqs).length > 0
      ? await order.unsuperseded(conversationId, participant.id, batch.changes, batch.seqs).catch((err: unknown) => {
        throw coordinationUnavailable(err)
      })
      : batch.changes
    // merge mode writes the full map; patch mode only the changes, trusting Genesys to merge.
    const attributes: Attributes = mode === 'patch' || !reads ? changes : merge(seen?.attributes, changes)
    if (Object.keys(changes).length === 0) return { participantId: participant.id, attributes, coalesced: batch.waiters.size, attempts: batch.attempts }
    if (lease !== undefined && !lease.held) {
      throw new ApiError('COORDINATION_UNAVAILABLE', 'the conversation lock was lost before the write was sent; nothing was written', { retryAfter: 1 })
    }
    // The PATCH's unit is dated now that it is really sent. A pause that began since ready() (a
    // race of a few ms) refuses rather than waits: the changes were built for now.
    await reservation.send(clock.now(), async () => {
      batch.sending = true
      batch.attempts++
      try {
        await this.#upstream.patchParticipantAttributes(conversationId, participant.id, attributes)
      } catch (err) {
        if (err instanceof UpstreamError && err.mayHaveLanded) batch.mayHaveLanded = true
        throw err
      } finally {
        batch.sending = false
      }
    })
    // Should Redis fail here, the write still happened and its callers are told so. Without the
    // record, a late older value could be written over this one: tried again while the lock
    // still holds (no other write to the conversation can happen meanwhile), else reported.
    // An exact write (the doctor's probe) asks what Genesys itself shows: nothing of it is to be hidden.
    const { journal } = this.#opts
    const before = mode === 'merge' ? seen?.attributes : undefined
    if (!exact) await this.#record(conversationId, lease, () => journal.wrote(conversationId, participant.id, changes, before, seen?.entries))
    if (order) await this.#record(conversationId, lease, () => order.written(conversationId, participant.id, Object.keys(changes), batch.seqs))
    return { participantId: participant.id, attributes, coalesced: batch.waiters.size, attempts: batch.attempts }
  }

  /**
   * A second read, on one more unit outside the reservation: only when the budget has one at
   * once. Right after a 429's pause it may not, and then the write goes on with the read it has
   * (journal-corrected, undefined here): better than refusing the callers for want of a fresher read.
   */
  async #readAgain (conversationId: string, batch: Batch): Promise<{ participant: ChosenParticipant; seen: Seen } | undefined> {
    const { budget, clock } = this.#opts
    const deadline = Math.min(deadlineOf(batch) - SEND_WINDOW_MS, clock.now() + SEND_WINDOW_MS)
    const spare = await budget.reserve(hasLive(batch) ? 'live' : 'bulk', deadline, 1).catch(() => undefined)
    if (spare === undefined) return undefined
    let asked = false
    try {
      return await this.#read(conversationId, batch, (request) => spare.send(deadline, () => {
        asked = true
        return request()
      }))
    } catch (err) {
      // The unit could not go before the deadline (a pause began): the read in hand will do.
      if (!asked) return undefined
      throw err
    } finally {
      spare.release()
    }
  }

  /** The conversation, its participant for this batch, and that participant's map as corrected by the journal. */
  async #read (conversationId: string, batch: Batch, send: Send<Conversation>): Promise<{ participant: ChosenParticipant; seen: Seen }> {
    const conversation = await send(() => this.#upstream.getConversation(conversationId))
    const at = this.#opts.clock.now()
    if (this.#opts.refuseEnded && conversation.endTime !== undefined) throw conversationEnded(conversationId, conversation.endTime)
    const participant = chooseParticipant(conversation, batch.target, true)
    if (this.#opts.mode === 'patch') return { participant, seen: { at, attributes: participant.attributes ?? {}, entries: undefined } }
    const corrected = await this.#opts.journal
      .correct(conversationId, participant.id, participant.attributes ?? {})
      .catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
    return { participant, seen: { at, ...corrected } }
  }

  /** What a write carried, recorded; tried again while the lock holds, else reported. */
  async #record (conversationId: string, lease: Lease | undefined, record: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await record()
      } catch (err) {
        if (attempt >= RECORD_ATTEMPTS || lease?.held === false) return this.#opts.onUnordered?.(conversationId, err)
        await this.#opts.clock.sleep(backoff({ baseMs: 20, maxMs: 40, random: Math.random }, attempt))
      }
    }
  }

  /**
   * A write's units of the request budget, for the batch's most urgent caller; undefined when no
   * caller is left to write for.
   */
  async #reserve (lane: Lane, batch: Batch, units: number): Promise<Reservation | undefined> {
    if (batch.waiters.size === 0) return undefined
    // Live when any caller in the batch, or waiting behind it in the lane, is live.
    let priority: Priority = hasLive(batch) ? 'live' : 'bulk'
    if (priority === 'bulk') for (const b of lane.batches.values()) if (hasLive(b)) priority = 'live'
    lane.ticket = {}
    const reservation = await this.#opts.budget.reserve(priority, deadlineOf(batch) - SEND_WINDOW_MS, units, lane.ticket)
    if (batch.waiters.size > 0) return reservation
    reservation.release()
    return undefined
  }
}
