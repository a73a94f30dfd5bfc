import { merge, chooseParticipant, type ChosenParticipant } from '../attributes/index.ts'
import type { Clock } from '../clock.ts'
import { ApiError, conversationEnded, coordinationUnavailable } from '../errors.ts'
import type { RateBudget, Reservation } from './budget.ts'
import { UpstreamError } from '../genesys/index.ts'
import type { Job } from './lane.ts'
import type { Journal } from './journal.ts'
import type { Entry, Order } from '../coordination/index.ts'
import type { Lease, Upstream } from './ports.ts'
import { backoff } from './retry.ts'
import type { Attributes, Conversation, Target } from '../domain.ts'

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

/** What an attempt wrote: the participant, and its full map as written (the queue adds how many callers, how many attempts). */
export interface Wrote {
  participantId: string
  attributes: Attributes
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
   * Undefined when no caller is left to write for. Throws what Genesys answered (an
   * UpstreamError) or the pipeline's own refusal (an ApiError).
   */
  async attempt (conversationId: string, job: Job, lock: () => Promise<Lease | undefined>): Promise<Wrote | undefined> {
    // patch mode (or an exact write): a known participant is written without reading it first.
    const reads = !('participantId' in job.target && (this.#opts.mode === 'patch' || job.target.exact === true))
    // The whole write's cost at once, so no read is made for a write the budget would refuse.
    const reservation = await this.#reserve(job, reads ? 2 : 1)
    if (reservation === undefined) return undefined
    try {
      // Units first, then the conversation's lock: a write waiting for budget would otherwise keep
      // the conversation from every other replica all that time, while they poll for it.
      const lease = await lock()
      return await this.#attempt(conversationId, job, lease, reads, reservation)
    } finally {
      reservation.release()
    }
  }

  async #attempt (conversationId: string, job: Job, lease: Lease | undefined, reads: boolean, reservation: Reservation): Promise<Wrote | undefined> {
    const { mode, clock } = this.#opts
    const exact = 'participantId' in job.target && job.target.exact === true
    let participant: ChosenParticipant
    let seen: Seen | undefined
    if (!reads) {
      participant = { id: (job.target as { participantId: string }).participantId }
    } else {
      const deadline = job.deadline() - SEND_WINDOW_MS
      ;({ participant, seen } = await this.#read(conversationId, job.target, (request) => reservation.send(deadline, request)))
    }
    if (job.waiting === 0) return undefined
    // A token fetch is a wait like a pause: both come before the look at how old the read is. (The
    // budget makes sure of the token before dating any unit; here it is only asked sooner.)
    const preparing = this.#upstream.prepare?.()
    if (preparing !== undefined) await preparing
    // A pause Genesys asked for (a 429, on any replica) is waited out here, when the callers' deadline allows.
    await reservation.ready(job.deadline() - SEND_WINDOW_MS)
    const again = mode === 'merge' && seen !== undefined && clock.now() - seen.at > REREAD_AFTER_MS ? await this.#readAgain(conversationId, job) : undefined
    if (again !== undefined) {
      ;({ participant, seen } = again)
      if (job.waiting === 0) return undefined
    }
    // Built from the callers still waiting, at the moment of sending.
    const update = job.update(SEND_WINDOW_MS)
    if (update === undefined) return undefined
    const { seqs } = update
    // Checked under the conversation lock: keys a newer update has written meanwhile are left out.
    // Only a key with a sequence (an asynchronous update's) can be older than what was written:
    // a synchronous batch skips the check, and its round trip.
    const { order } = this.#opts
    const changes = order && Object.keys(seqs).length > 0
      ? await order.unsuperseded(conversationId, participant.id, update.changes, seqs).catch((err: unknown) => {
        throw coordinationUnavailable(err)
      })
      : update.changes
    // merge mode writes the full map; patch mode only the changes, trusting Genesys to merge.
    const attributes: Attributes = mode === 'patch' || !reads ? changes : merge(seen?.attributes, changes)
    if (Object.keys(changes).length === 0) return { participantId: participant.id, attributes }
    if (lease !== undefined && !lease.held) {
      throw new ApiError('COORDINATION_UNAVAILABLE', 'the conversation lock was lost before the write was sent; nothing was written', { retryAfter: 1 })
    }
    // The PATCH's unit is dated now that it is really sent. A pause that began since ready() (a
    // race of a few ms) refuses rather than waits: the changes were built for now.
    await reservation.send(clock.now(), async () => {
      job.sending()
      let mayHaveLanded = false
      try {
        await this.#upstream.patchParticipantAttributes(conversationId, participant.id, attributes)
      } catch (err) {
        mayHaveLanded = err instanceof UpstreamError && err.mayHaveLanded
        throw err
      } finally {
        job.sent(mayHaveLanded)
      }
    })
    // Should Redis fail here, the write still happened and its callers are told so. Without the
    // record, a late older value could be written over this one: tried again while the lock
    // still holds (no other write to the conversation can happen meanwhile), else reported.
    // An exact write (the doctor's probe) asks what Genesys itself shows: nothing of it is to be hidden.
    const { journal } = this.#opts
    const before = mode === 'merge' ? seen?.attributes : undefined
    if (!exact) await this.#record(conversationId, lease, () => journal.wrote(conversationId, participant.id, changes, before, seen?.entries))
    if (order) await this.#record(conversationId, lease, () => order.written(conversationId, participant.id, Object.keys(changes), seqs))
    return { participantId: participant.id, attributes }
  }

  /**
   * A second read, on one more unit outside the reservation: only when the budget has one at
   * once. Right after a 429's pause it may not, and then the write goes on with the read it has
   * (journal-corrected, undefined here): better than refusing the callers for want of a fresher read.
   */
  async #readAgain (conversationId: string, job: Job): Promise<{ participant: ChosenParticipant; seen: Seen } | undefined> {
    const { budget, clock } = this.#opts
    const deadline = Math.min(job.deadline() - SEND_WINDOW_MS, clock.now() + SEND_WINDOW_MS)
    const spare = await budget.reserve(job.live() ? 'live' : 'bulk', deadline, 1).catch(() => undefined)
    if (spare === undefined) return undefined
    let asked = false
    try {
      return await this.#read(conversationId, job.target, (request) => spare.send(deadline, () => {
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
  async #read (conversationId: string, target: Target, send: Send<Conversation>): Promise<{ participant: ChosenParticipant; seen: Seen }> {
    const conversation = await send(() => this.#upstream.getConversation(conversationId))
    const at = this.#opts.clock.now()
    if (this.#opts.refuseEnded && conversation.endTime !== undefined) throw conversationEnded(conversationId, conversation.endTime)
    const participant = chooseParticipant(conversation, target, true)
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
  async #reserve (job: Job, units: number): Promise<Reservation | undefined> {
    if (job.waiting === 0) return undefined
    const { priority, ticket } = job.ticket()
    const reservation = await this.#opts.budget.reserve(priority, job.deadline() - SEND_WINDOW_MS, units, ticket)
    if (job.waiting > 0) return reservation
    reservation.release()
    return undefined
  }
}
