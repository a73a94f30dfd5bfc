import { setTimeout as sleep } from 'node:timers/promises'
import type { Attributes } from '../attributes/body.js'
import { merge } from '../attributes/merge.js'
import { ApiError } from '../errors.js'
import type { Priority, RateBudget, Ticket } from '../genesys/budget.js'
import type { Conversation } from '../genesys/client.js'
import type { Retry, RetryPolicy } from './retry.js'

/** What the queue needs from Genesys; GenesysClient is the real one. */
export interface Upstream {
  getConversation(conversationId: string): Promise<Conversation>
  patchParticipantAttributes(conversationId: string, participantId: string, attributes: Attributes): Promise<void>
  /** Whatever the write needs before it can go out (a token), so that "sent" means sent; undefined when ready. */
  prepare?(): Promise<unknown> | undefined
}

/**
 * A write sent with less time than this left before its callers' deadline would most likely be
 * answered "outcome unknown"; those callers are told "not written" instead, while that is true.
 */
const SEND_WINDOW_MS = 100

/** Which participant: a known id, or the one found in the conversation by purpose. */
export type Target = { participantId: string } | { purposes: readonly string[] }

/** Who is asking: for the request budget and for when to give up. */
export interface Caller {
  /** Epoch ms by which the caller must have its answer. */
  deadline: number
  priority: Priority
}

/** One caller's update. */
export interface Update {
  changes: Attributes
  /** Epoch ms by which the caller must have its answer. */
  deadline: number
  priority: Priority
}

export interface WriteResult {
  /** The participant written to (found by purpose, for a conversation-level write). */
  participantId: string
  /** The participant's full map as written. */
  attributes: Attributes
  /** How many callers' updates went into this write. */
  coalesced: number
  /** PATCH attempts the write took (more than one after retries). */
  attempts: number
}

/**
 * Exclusive right to write to a conversation across replicas (Redis); absent when this process
 * is the only writer and its lanes are enough.
 */
export interface ConversationLock {
  /** Resolves once held; rejects with DEADLINE_EXCEEDED or COORDINATION_UNAVAILABLE. */
  acquire(conversationId: string, deadline: number): Promise<Lease>
}

export interface Lease {
  /** False once the lease could not be kept (Redis unreachable): nothing may be sent then. */
  readonly held: boolean
  release(): Promise<void>
}

export interface QueueOptions {
  /**
   * merge (default): read, merge, write the full map; right whether Genesys merges or replaces.
   * patch: write only the changes, one request per write; right only if Genesys merges per key.
   */
  mode?: 'merge' | 'patch'
  policy: RetryPolicy
  lock?: ConversationLock
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
  /** Told of each successful write: how many callers' updates it carried. */
  onWrite?: (coalesced: number) => void
  now?: () => number
}

interface Waiter extends Update {
  resolve: (r: WriteResult) => void
  reject: (e: unknown) => void
  timer: NodeJS.Timeout
}

/** The updates to one participant that will go out in one write. */
interface Batch {
  /** Its key in the lane. */
  key: string
  target: Target
  /** Callers not yet answered, in arrival order. */
  waiters: Set<Waiter>
  /** A PATCH of this batch is on the wire: an expiring caller's outcome is unknown, not "not applied". */
  sending: boolean
  /** An earlier PATCH of this batch may have landed; its changes can no longer be taken back. */
  mayHaveLanded: boolean
  changes: Attributes
}

/** A conversation's pending batches, by target, in arrival order. */
interface Lane {
  batches: Map<string, Batch>
  /** The batch being written now. */
  current: Batch | undefined
  /** Its place in the budget's queue, should a live caller arrive behind a bulk one. */
  ticket: Ticket
  /** Unanswered callers, pending and in flight. */
  callers: number
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
  readonly #upstream: Upstream
  readonly #opts: QueueOptions
  readonly #now: () => number
  #callers = 0
  /** Set by close(): the time by which every caller must have been answered. */
  #closingBy: number | undefined
  #idle: (() => void) | undefined

  constructor(upstream: Upstream, opts: QueueOptions) {
    this.#upstream = upstream
    this.#opts = opts
    this.#now = opts.now ?? Date.now
  }

  /** Conversations with a write in flight or pending. */
  get size(): number {
    return this.#lanes.size
  }

  /** Callers waiting for an answer, in all. */
  get callers(): number {
    return this.#callers
  }

  submit(conversationId: string, target: Target, update: Update): Promise<WriteResult> {
    const now = this.#now()
    const deadline = Math.min(update.deadline, this.#closingBy ?? Infinity)
    if (deadline <= now) return Promise.reject(this.#expired(false))
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
    const key = 'participantId' in target ? target.participantId : `purpose:${target.purposes.join('|')}`
    let batch = lane.batches.get(key)
    if (batch === undefined) {
      batch = { key, target, waiters: new Set(), sending: false, mayHaveLanded: false, changes: {} }
      lane.batches.set(key, batch)
    }
    const l = lane
    const b = batch
    const done = new Promise<WriteResult>((resolve, reject) => {
      const waiter: Waiter = { changes: update.changes, priority: update.priority, deadline, resolve, reject, timer: setTimeout(() => this.#expire(l, b, waiter), deadline - now) }
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
  close(by: number): Promise<void> {
    this.#closingBy = by
    for (const lane of this.#lanes.values()) {
      if (lane.current !== undefined) this.#hurry(lane, lane.current, by)
      for (const batch of lane.batches.values()) this.#hurry(lane, batch, by)
    }
    return this.#callers === 0 ? Promise.resolve() : new Promise((r) => (this.#idle = r))
  }

  #hurry(lane: Lane, batch: Batch, by: number): void {
    for (const w of batch.waiters) {
      if (w.deadline <= by) continue
      clearTimeout(w.timer)
      w.deadline = by
      w.timer = setTimeout(() => this.#expire(lane, batch, w), Math.max(0, by - this.#now()))
    }
  }

  #expired(sent: boolean): ApiError {
    if (sent) return new ApiError('UPSTREAM_OUTCOME_UNKNOWN', 'the deadline passed while the write was on its way to Genesys Cloud; it may or may not have been applied')
    if (this.#closingBy !== undefined) return new ApiError('SHUTTING_DOWN', 'the service is shutting down and the update was not sent; send it again', { retryAfter: 1 })
    return new ApiError('DEADLINE_EXCEEDED', 'the deadline passed before the update could be sent; it was not applied and never will be')
  }

  #expire(lane: Lane, batch: Batch, waiter: Waiter): void {
    const sent = batch.sending || batch.mayHaveLanded
    this.#answer(lane, batch, waiter)
    // Not sent: withdrawn, so whatever is written next for this batch is built without it.
    waiter.reject(this.#expired(sent))
  }

  /** Takes a caller off the books; the caller of this settles its promise. */
  #answer(lane: Lane, batch: Batch, waiter: Waiter): void {
    clearTimeout(waiter.timer)
    batch.waiters.delete(waiter)
    lane.callers--
    if (--this.#callers === 0) this.#idle?.()
  }

  async #drain(conversationId: string, lane: Lane): Promise<void> {
    // Writes for one conversation run one after another, oldest participant batch first;
    // whatever arrives meanwhile joins a batch still waiting in the lane.
    for (let next = lane.batches.values().next(); !next.done; next = lane.batches.values().next()) {
      const batch = next.value
      lane.batches.delete(batch.key)
      lane.current = batch
      let settled = false
      let lease: Lease | undefined
      try {
        if (batch.waiters.size > 0) lease = await this.#opts.lock?.acquire(conversationId, deadlineOf(batch))
        const result = await this.#write(conversationId, lane, batch, lease)
        settled = result !== undefined
        if (settled) this.#opts.onWrite?.(result!.coalesced)
        for (const w of [...batch.waiters]) {
          this.#answer(lane, batch, w)
          w.resolve(result!)
        }
      } catch (err) {
        const final = batch.mayHaveLanded ? outcomeUnknown(err) : err
        for (const w of [...batch.waiters]) {
          this.#answer(lane, batch, w)
          w.reject(final)
        }
      }
      lane.current = undefined
      // The lane (and the lock) stay held during the pause, so newcomers queue behind it too;
      // during shutdown they are answered SHUTTING_DOWN meanwhile, which is true.
      if (batch.mayHaveLanded && !settled) await this.#opts.unknownOutcomePause()
      await lease?.release()
    }
    this.#lanes.delete(conversationId)
  }

  /**
   * Read, merge, write, retrying as the policy says. Undefined when every caller of the batch
   * was answered (by its deadline) before the write could be confirmed.
   */
  async #write(conversationId: string, lane: Lane, batch: Batch, lease: Lease | undefined): Promise<WriteResult | undefined> {
    let patches = 0
    const gone = () => batch.waiters.size === 0
    return this.#retrying(() => deadlineOf(batch), gone, async () => {
      // patch mode: a known participant is written without reading it first.
      const blind = this.#opts.mode === 'patch' && 'participantId' in batch.target
      let participant: { id: string; attributes?: Attributes | undefined }
      if (blind) {
        participant = { id: (batch.target as { participantId: string }).participantId }
      } else {
        if (!(await this.#take(lane, batch, 1))) return undefined
        participant = resolve(await this.#upstream.getConversation(conversationId), batch.target, true)
      }
      if (!(await this.#take(lane, batch, 0))) return undefined
      const preparing = this.#upstream.prepare?.()
      if (preparing !== undefined) await preparing
      if (!batch.mayHaveLanded) {
        for (const w of batch.waiters) if (w.deadline - this.#now() < SEND_WINDOW_MS) this.#expire(lane, batch, w)
        if (batch.waiters.size === 0) return undefined
      }
      // Built from the callers still waiting, at the moment of sending; once a PATCH may have
      // landed, its changes stay in every later attempt.
      if (!batch.mayHaveLanded) {
        batch.changes = {}
        for (const w of batch.waiters) Object.assign(batch.changes, w.changes)
      }
      // merge mode writes the full map; patch mode only the changes, trusting Genesys to merge.
      const attributes = this.#opts.mode === 'patch' ? batch.changes : merge(participant.attributes, batch.changes)
      if (lease !== undefined && !lease.held) {
        throw new ApiError('COORDINATION_UNAVAILABLE', 'the conversation lock was lost before the write was sent; nothing was written', { retryAfter: 1 })
      }
      batch.sending = true
      patches++
      try {
        await this.#upstream.patchParticipantAttributes(conversationId, participant.id, attributes)
      } catch (err) {
        if (err instanceof ApiError && err.code === 'UPSTREAM_OUTCOME_UNKNOWN') batch.mayHaveLanded = true
        throw err
      } finally {
        batch.sending = false
      }
      return { participantId: participant.id, attributes, coalesced: batch.waiters.size, attempts: patches }
    })
  }

  /**
   * Runs `attempt` until it succeeds or the retry policy says the failure is final. Undefined
   * when, after a failure, nobody is left waiting for the outcome (`gone`).
   */
  async #retrying<T>(deadline: () => number, gone: () => boolean, attempt: () => Promise<T>): Promise<T | undefined> {
    const retries = this.#opts.policy.begin()
    for (;;) {
      try {
        return await attempt()
      } catch (err) {
        if (gone()) return undefined
        const retry = retries.after(err, deadline())
        if (retry === undefined) throw err
        this.#opts.onRetry?.(retry)
        await sleep(retry.delayMs)
      }
    }
  }

  /**
   * The participant's attributes as they stand, for read-back and dry runs: not queued behind
   * writes (a read changes nothing), but through the same budget and retry policy, and answered
   * by the caller's deadline.
   */
  read(conversationId: string, target: Target, caller: Caller): Promise<{ participantId: string; attributes: Attributes }> {
    const attempt = this.#retrying(
      () => caller.deadline,
      () => false,
      async () => {
        await this.#opts.budget.take(caller.priority, caller.deadline)
        const p = resolve(await this.#upstream.getConversation(conversationId), target, false)
        return { participantId: p.id, attributes: p.attributes ?? {} }
      },
    ) as Promise<{ participantId: string; attributes: Attributes }>
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ApiError('DEADLINE_EXCEEDED', 'the deadline passed before Genesys Cloud answered the read')), caller.deadline - this.#now())
    })
    return Promise.race([attempt, late]).finally(() => clearTimeout(timer))
  }

  /**
   * One unit of the request budget, for the batch's most urgent caller, with `more` to follow;
   * false when no caller is left to write for.
   */
  async #take(lane: Lane, batch: Batch, more: number): Promise<boolean> {
    if (batch.waiters.size === 0) return false
    // Live when any caller in the batch, or waiting behind it in the lane, is live.
    let priority: Priority = hasLive(batch) ? 'live' : 'bulk'
    if (priority === 'bulk') for (const b of lane.batches.values()) if (hasLive(b)) priority = 'live'
    lane.ticket = {}
    await this.#opts.budget.take(priority, deadlineOf(batch) - SEND_WINDOW_MS, more, lane.ticket)
    return batch.waiters.size > 0
  }
}

/**
 * The participant a target names in this conversation. An id that is not there yet is still
 * written to when `writing` (Genesys answers 404 if it is really unknown), so no extra request
 * is spent in the common case; a purpose must match exactly one participant.
 */
function resolve(conversation: Conversation, target: Target, writing: boolean): { id: string; attributes?: Attributes | undefined } {
  const { participants } = conversation
  if ('participantId' in target) {
    const p = participants.find((x) => x.id === target.participantId)
    if (p === undefined && !writing) throw new ApiError('PARTICIPANT_NOT_FOUND', `participant ${target.participantId} is not in conversation ${conversation.id}`)
    return { id: target.participantId, attributes: p?.attributes }
  }
  for (const purpose of target.purposes) {
    const matches = participants.filter((p) => p.purpose.toLowerCase() === purpose)
    if (matches.length === 1) return matches[0]!
    if (matches.length > 1) {
      throw new ApiError('PARTICIPANT_AMBIGUOUS', `${matches.length} participants have purpose ${purpose}; name one with participantId`, {
        extra: { candidates: matches.map((m) => m.id) },
      })
    }
  }
  const present = [...new Set(participants.map((p) => p.purpose))]
  throw new ApiError('PARTICIPANT_NOT_FOUND', `no participant with purpose ${target.purposes.join(' or ')}; purposes present: ${present.join(', ') || 'none'}`, {
    extra: { purposes: present },
  })
}

function hasLive(batch: Batch): boolean {
  for (const w of batch.waiters) if (w.priority === 'live') return true
  return false
}

function deadlineOf(batch: Batch): number {
  let d = 0
  for (const w of batch.waiters) d = Math.max(d, w.deadline)
  return d
}

function overloaded(why: string): ApiError {
  return new ApiError('OVERLOADED', `${why}; send it again shortly`, { retryAfter: 1 })
}

/** A write that may have landed and then failed for another reason is still "may have landed". */
function outcomeUnknown(err: unknown): ApiError {
  if (err instanceof ApiError && err.code === 'UPSTREAM_OUTCOME_UNKNOWN') return err
  const why = err instanceof ApiError ? err.detail : String(err)
  return new ApiError('UPSTREAM_OUTCOME_UNKNOWN', `an earlier attempt of this write got no answer, and the retry failed (${why}); it may or may not have been applied`, {
    cause: err,
  })
}
