import { systemClock, type Clock } from '../clock.ts'
import { ApiError, outcomeUnknown, overloaded } from '../errors.ts'
import type { RateBudget } from './budget.ts'
import { toApiError } from './answer.ts'
import { deadlineOf, hasLive, type Batch, type Job, type Lane, type Waiter } from './lane.ts'
import { Journal } from './journal.ts'
import { PROPAGATION_MS } from '../genesys/index.ts'
import { latest, MemoryJournalStore, type ConversationLock, type Order } from '../coordination/index.ts'
import type { Lease, Update, Upstream, WriteResult } from './ports.ts'
import { withRetries, type Retry, type RetryPolicy } from './retry.ts'
import type { PipelineTracing } from './tracing.ts'
import { Writer } from './write.ts'
import { targetKey, type Priority, type Target } from '../domain.ts'

export interface QueueOptions {
  /**
   * merge (default): read, merge, write the full map; right whether Genesys merges or replaces.
   * patch: write only the changes, one request per write; right only if Genesys merges per key.
   */
  mode?: 'merge' | 'patch'
  /** Refuse writes to ended conversations where the write reads the conversation (default true). */
  refuseEnded?: boolean
  policy: RetryPolicy
  lock?: ConversationLock | undefined
  /** Keeps an older value from being written over a newer one (invariant 7, docs/architecture.md). */
  order?: Order | undefined
  /** Read-your-writes: what a late read shows is not written back over what this gateway wrote. */
  journal?: Journal | undefined
  budget: RateBudget
  /** Updates waiting or being written, for one conversation and in all, before OVERLOADED. */
  maxPerConversation: number
  maxTotal: number
  /**
   * After a write whose outcome stayed unknown, the conversation waits this long before its
   * next write: the lost PATCH may still be working its way through Genesys, and the next write
   * must neither overlap it (a 409 of our own making) nor be overwritten by it when it lands.
   */
  unknownOutcomePause: () => Promise<void>
  onRetry?: (retry: Retry) => void
  /** A write's order record could not be stored (invariant 7 of docs/architecture.md at risk): for the log. */
  onUnordered?: (conversationId: string, err: unknown) => void
  /** Told of each successful write: how many callers' updates it carried. */
  onWrite?: (coalesced: number) => void
  clock?: Clock
  /** Spans for the queue wait, the lock and each write; absent when tracing is off. */
  tracing?: PipelineTracing | undefined
}

/**
 * One upstream write in flight per conversation. Updates that arrive while a write is in flight
 * are coalesced per participant (later value wins per key) into the next write, and every
 * caller whose update went into a write gets that write's outcome. Different conversations
 * proceed in parallel; a conversation's lane is removed as soon as it has nothing pending.
 *
 * Every caller has a deadline and is answered by it. One whose update has not been sent yet is
 * withdrawn from its batch and answered DEADLINE_EXCEEDED: its changes are never written. One
 * whose write is on the wire, or may have landed, is answered UPSTREAM_OUTCOME_UNKNOWN.
 */
export class UpdateQueue {
  readonly #lanes = new Map<string, Lane>()
  readonly #opts: QueueOptions
  readonly #writer: Writer
  readonly #clock: Clock
  #callers = 0
  /** Set by close(): the time by which every caller must have been answered. */
  #closingBy: number | undefined
  /** What close() answers once no caller is left: the same for every close() until then. */
  #idle: Promise<void> | undefined
  #wake: (() => void) | undefined

  constructor (upstream: Upstream, opts: QueueOptions) {
    this.#opts = opts
    this.#clock = opts.clock ?? systemClock
    this.#writer = new Writer(upstream, { mode: opts.mode ?? 'merge', refuseEnded: opts.refuseEnded ?? true, budget: opts.budget, order: opts.order, journal: opts.journal ?? new Journal(new MemoryJournalStore(), PROPAGATION_MS, this.#clock), clock: this.#clock, onUnordered: opts.onUnordered })
  }

  /** Conversations with a write in flight or pending. */
  get size (): number {
    return this.#lanes.size
  }

  /** Callers waiting for an answer, in all. */
  get callers (): number {
    return this.#callers
  }

  submit (conversationId: string, target: Target, update: Update): Promise<WriteResult> {
    const at = this.#clock.now()
    const deadline = Math.min(update.deadline, this.#closingBy ?? Infinity)
    if (deadline <= at) return Promise.reject(this.#lateError(false))
    if (this.#callers >= this.#opts.maxTotal) return Promise.reject(overloaded(`${this.#callers} updates are waiting in all`))
    let lane = this.#lanes.get(conversationId)
    if (lane !== undefined && lane.callers >= this.#opts.maxPerConversation) {
      return Promise.reject(overloaded(`${lane.callers} updates are waiting for this conversation`))
    }
    const idle = lane === undefined
    if (lane === undefined) {
      lane = { batches: new Map(), current: undefined, ticket: {}, callers: 0 }
      this.#lanes.set(conversationId, lane)
    }
    const key = targetKey(target)
    let batch = lane.batches.get(key)
    if (batch === undefined) {
      batch = { key, target, waiters: new Set(), sending: false, mayHaveLanded: false, changes: {}, seqs: {}, attempts: 0 }
      lane.batches.set(key, batch)
    }
    const l = lane
    const b = batch
    const done = new Promise<WriteResult>((resolve, reject) => {
      const timer = this.#clock.after(deadline - at, () => this.#answerLate(l, b, waiter))
      const traced = this.#opts.tracing?.queued()
      const waiter: Waiter = { changes: update.changes, seqs: update.seqs, priority: update.priority, deadline, resolve, reject, timer, traced }
      b.waiters.add(waiter)
    })
    lane.callers++
    this.#callers++
    // A live caller waits behind whatever the lane is writing: that write is live now too.
    if (update.priority === 'live') lane.ticket.promote?.()
    if (idle) void this.#drain(conversationId, lane)
    return done
  }

  /**
   * Shutdown: answer every caller by `by` (those not yet sent get SHUTTING_DOWN, so they can be
   * sent to another instance at once) and resolve when none is left waiting.
   */
  close (by: number): Promise<void> {
    this.#closingBy = Math.min(by, this.#closingBy ?? by)
    for (const lane of this.#lanes.values()) {
      if (lane.current !== undefined) this.#hurry(lane, lane.current, by)
      for (const batch of lane.batches.values()) this.#hurry(lane, batch, by)
    }
    if (this.#callers === 0) return Promise.resolve()
    this.#idle ??= new Promise((resolve) => (this.#wake = resolve))
    return this.#idle
  }

  #hurry (lane: Lane, batch: Batch, by: number): void {
    for (const w of batch.waiters) {
      if (w.deadline <= by) continue
      w.timer.cancel()
      w.deadline = by
      w.timer = this.#clock.after(by - this.#clock.now(), () => this.#answerLate(lane, batch, w))
    }
  }

  /** What a caller answered at its deadline is told: `sent` when its write may be in Genesys. */
  #lateError (sent: boolean): ApiError {
    if (sent) return new ApiError('UPSTREAM_OUTCOME_UNKNOWN', 'the deadline passed while the write was on its way to Genesys Cloud; it may or may not have been applied')
    if (this.#closingBy !== undefined) return new ApiError('SHUTTING_DOWN', 'the service is shutting down and the update was not sent; send it again', { retryAfter: 1 })
    return new ApiError('DEADLINE_EXCEEDED', 'the deadline passed before the update could be sent; it was not applied and never will be')
  }

  /** Answers a caller whose deadline has come; one not yet sent is withdrawn from its batch. */
  #answerLate (lane: Lane, batch: Batch, waiter: Waiter): void {
    const sent = batch.sending || batch.mayHaveLanded
    this.#remove(lane, batch, waiter)
    // Not sent: withdrawn, so whatever is written next for this batch is built without it.
    waiter.reject(this.#lateError(sent))
  }

  /** Takes a caller off the books; whoever calls this settles the caller's promise. */
  #remove (lane: Lane, batch: Batch, waiter: Waiter): void {
    waiter.timer.cancel()
    this.#opts.tracing?.dequeued(waiter.traced)
    batch.waiters.delete(waiter)
    lane.callers--
    if (--this.#callers > 0) return
    this.#wake?.()
    this.#idle = this.#wake = undefined
  }

  async #drain (conversationId: string, lane: Lane): Promise<void> {
    // Writes for one conversation run one after another, oldest participant batch first;
    // whatever arrives meanwhile joins a batch still waiting in the lane.
    for (let next = lane.batches.values().next(); !next.done; next = lane.batches.values().next()) {
      const batch = next.value
      lane.batches.delete(batch.key)
      lane.current = batch
      let settled = false
      // Taken by the write once it has its units (write.ts), and kept across its retries.
      let lease: Promise<Lease | undefined> | undefined
      const lock = () => (lease ??= this.#lock(conversationId, batch))
      const run = () => this.#write(conversationId, lane, batch, lock)
      try {
        const { tracing } = this.#opts
        const result = await (tracing === undefined ? run() : tracing.write(conversationId, batch.waiters, run))
        settled = result !== undefined
        if (settled) this.#opts.onWrite?.(result!.coalesced)
        for (const w of [...batch.waiters]) {
          this.#remove(lane, batch, w)
          w.resolve(result!)
        }
      } catch (err) {
        const answer = toApiError(err)
        const final = batch.mayHaveLanded ? outcomeUnknown(answer) : answer
        for (const w of [...batch.waiters]) {
          this.#remove(lane, batch, w)
          w.reject(final)
        }
      }
      lane.current = undefined
      // The lane (and the lock) stay held during the pause, so newcomers queue behind it too;
      // during shutdown they are answered SHUTTING_DOWN meanwhile, which is true.
      if (batch.mayHaveLanded && !settled) await this.#opts.unknownOutcomePause()
      await (await lease?.catch(() => undefined))?.release()
    }
    this.#lanes.delete(conversationId)
  }

  /** The conversation's lock across replicas, when there are several. */
  async #lock (conversationId: string, batch: Batch): Promise<Lease | undefined> {
    const { lock, tracing } = this.#opts
    if (lock === undefined) return undefined
    const acquire = () => lock.acquire(conversationId, deadlineOf(batch))
    return tracing === undefined ? acquire() : tracing.wait('conversation lock', { 'pdg.conversation_id': conversationId }, acquire)
  }

  /**
   * The batch's write, retried as the policy says. Undefined when every caller of the batch was
   * answered (by its deadline) before the write could be confirmed.
   */
  async #write (conversationId: string, lane: Lane, batch: Batch, lock: () => Promise<Lease | undefined>): Promise<WriteResult | undefined> {
    const job = this.#job(lane, batch)
    const wrote = await withRetries(
      this.#opts.policy,
      () => deadlineOf(batch),
      () => batch.waiters.size === 0,
      () => this.#writer.attempt(conversationId, job, lock),
      this.#opts.onRetry
    )
    return wrote && { ...wrote, coalesced: batch.waiters.size, attempts: batch.attempts }
  }

  /** What the Writer sees of a batch (lane.ts, Job); what each of its outcomes means is decided here. */
  #job (lane: Lane, batch: Batch): Job {
    return {
      target: batch.target,
      get waiting () {
        return batch.waiters.size
      },
      deadline: () => deadlineOf(batch),
      live: () => hasLive(batch),
      ticket: () => {
        // Live when any caller in the batch, or waiting behind it in the lane, is live.
        let priority: Priority = hasLive(batch) ? 'live' : 'bulk'
        if (priority === 'bulk') for (const b of lane.batches.values()) if (hasLive(b)) priority = 'live'
        lane.ticket = {}
        return { priority, ticket: lane.ticket }
      },
      update: (windowMs) => {
        // Once a PATCH may have landed, its changes stay in every later attempt.
        if (!batch.mayHaveLanded) {
          const now = this.#clock.now()
          for (const w of batch.waiters) if (w.deadline - now < windowMs) this.#answerLate(lane, batch, w)
          if (batch.waiters.size === 0) return undefined
          const built = latest(batch.waiters)
          batch.changes = built.changes
          batch.seqs = built.seqs
        }
        return { changes: batch.changes, seqs: batch.seqs }
      },
      sending: () => {
        batch.sending = true
        batch.attempts++
      },
      sent: (mayHaveLanded) => {
        batch.sending = false
        if (mayHaveLanded) batch.mayHaveLanded = true
      },
    }
  }
}
