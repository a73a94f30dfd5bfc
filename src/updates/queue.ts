import { setTimeout as sleep } from 'node:timers/promises'
import type { Attributes } from '../attributes/body.js'
import { merge } from '../attributes/merge.js'
import { ApiError } from '../errors.js'
import type { Conversation } from '../genesys/client.js'

/** What the queue needs from Genesys; GenesysClient is the real one. */
export interface Upstream {
  getConversation(conversationId: string): Promise<Conversation>
  patchParticipantAttributes(conversationId: string, participantId: string, attributes: Attributes): Promise<void>
}

export interface WriteResult {
  /** The participant's full map as written. */
  attributes: Attributes
  /** How many callers' updates went into this write. */
  coalesced: number
  /** PATCH attempts the write took (more than one after 409s). */
  attempts: number
}

export interface QueueOptions {
  /** Re-reads after a 409 before giving up with UPSTREAM_CONFLICT. */
  conflictRetries: number
  /** Pause before re-reading after the n-th 409 (1-based). */
  conflictBackoff?: (attempt: number) => Promise<void>
  /**
   * After a write whose outcome is unknown, the conversation waits this long before its next
   * write: the lost PATCH may still be working its way through Genesys, and the next write must
   * neither overlap it (a 409 of our own making) nor be overwritten by it when it lands late.
   */
  unknownOutcomePause: () => Promise<void>
}

interface Batch {
  changes: Attributes
  waiters: Array<{ resolve: (r: WriteResult) => void; reject: (e: unknown) => void }>
}

/** Pending batches of one conversation, by participant id, in arrival order. */
type Lane = Map<string, Batch>

// Jittered exponential pause: 50 ms, 100 ms, 200 ms… ±50%, so two writers that collided once
// are unlikely to collide again.
const defaultBackoff = (attempt: number) => sleep(Math.min(50 * 2 ** (attempt - 1), 1000) * (0.5 + Math.random()))

/**
 * One upstream write in flight per conversation. Updates that arrive while a write is in flight
 * are coalesced per participant (later value wins per key) into the next write, and every
 * caller whose update went into a write gets that write's outcome. Different conversations
 * proceed in parallel; a conversation's lane is removed as soon as it has nothing pending.
 */
export class UpdateQueue {
  readonly #lanes = new Map<string, Lane>()
  readonly #upstream: Upstream
  readonly #retries: number
  readonly #backoff: (attempt: number) => Promise<void>
  readonly #unknownOutcomePause: () => Promise<void>

  constructor(upstream: Upstream, opts: QueueOptions) {
    this.#upstream = upstream
    this.#retries = opts.conflictRetries
    this.#backoff = opts.conflictBackoff ?? defaultBackoff
    this.#unknownOutcomePause = opts.unknownOutcomePause
  }

  /** Conversations with a write in flight or pending. */
  get size(): number {
    return this.#lanes.size
  }

  submit(conversationId: string, participantId: string, changes: Attributes): Promise<WriteResult> {
    let lane = this.#lanes.get(conversationId)
    const idle = lane === undefined
    if (lane === undefined) {
      lane = new Map()
      this.#lanes.set(conversationId, lane)
    }
    let batch = lane.get(participantId)
    if (batch === undefined) {
      batch = { changes: Object.create(null) as Attributes, waiters: [] }
      lane.set(participantId, batch)
    }
    Object.assign(batch.changes, changes)
    const waiters = batch.waiters
    const done = new Promise<WriteResult>((resolve, reject) => waiters.push({ resolve, reject }))
    if (idle) void this.#drain(conversationId, lane)
    return done
  }

  async #drain(conversationId: string, lane: Lane): Promise<void> {
    // Writes for one conversation run one after another, oldest participant batch first;
    // whatever arrives meanwhile joins a batch still waiting in the lane.
    for (let next = lane.entries().next(); !next.done; next = lane.entries().next()) {
      const [participantId, batch] = next.value
      lane.delete(participantId)
      try {
        const result = await this.#write(conversationId, participantId, batch)
        for (const w of batch.waiters) w.resolve(result)
      } catch (err) {
        for (const w of batch.waiters) w.reject(err)
        // The lane stays registered during the pause, so newcomers queue behind it too.
        if (err instanceof ApiError && err.code === 'UPSTREAM_OUTCOME_UNKNOWN') await this.#unknownOutcomePause()
      }
    }
    this.#lanes.delete(conversationId)
  }

  /** Read, merge, write; after a 409 the conversation changed under us, so read and merge again. */
  async #write(conversationId: string, participantId: string, batch: Batch): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      const conversation = await this.#upstream.getConversation(conversationId)
      const current = conversation.participants.find((p) => p.id === participantId)?.attributes
      const attributes = merge(current, batch.changes)
      try {
        await this.#upstream.patchParticipantAttributes(conversationId, participantId, attributes)
        return { attributes, coalesced: batch.waiters.length, attempts: attempt }
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'UPSTREAM_CONFLICT' || attempt > this.#retries) throw err
        await this.#backoff(attempt)
      }
    }
  }
}
