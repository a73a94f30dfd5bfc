import { LRUCache } from 'lru-cache'
import type { Attributes } from '../attributes/body.js'

/** Per key, the acceptance sequence of the value a write carries. */
export type Sequences = Record<string, number>

/**
 * Invariant 7, per key the value accepted last stands: every update takes a sequence number when
 * it is accepted, and each write records, per participant and key, the sequence it wrote. Under
 * the conversation lock, before each PATCH, keys whose value is older than the one recorded are
 * left out, so a retry, a slow replica or a late async delivery never writes an older value over
 * a newer one.
 */
export interface Order {
  /** A number larger than any handed out before, on any replica. */
  next(): Promise<number>
  /** The changes without the keys a newer update has already written. */
  fresh(conversationId: string, participantId: string, changes: Attributes, seqs: Sequences): Promise<Attributes>
  /** Records what a write carried (keeps the larger where one is recorded). */
  written(conversationId: string, participantId: string, seqs: Sequences): Promise<void>
}

/** How long a conversation's record is kept after its last write: longer than any update may wait. */
export const ORDER_TTL_MS = 25 * 60 * 60 * 1000

/** Per key, the value with the larger sequence; without one, the later in arrival order wins. */
export function latest (updates: Iterable<{ changes: Attributes; seq?: number | undefined }>): { changes: Attributes; seqs: Sequences } {
  const changes: Attributes = {}
  const seqs: Sequences = {}
  for (const u of updates) {
    for (const [k, v] of Object.entries(u.changes)) {
      const seq = u.seq ?? Infinity
      if (k in changes && (seqs[k] ?? Infinity) > seq) continue
      changes[k] = v
      if (u.seq !== undefined) seqs[k] = u.seq
      else delete seqs[k]
    }
  }
  return { changes, seqs }
}

/** This process's own: for a single instance (no Redis). */
export class MemoryOrder implements Order {
  #seq = 0
  readonly #written = new LRUCache<string, Map<string, number>>({ max: 100_000, ttl: ORDER_TTL_MS })

  async next (): Promise<number> {
    return ++this.#seq
  }

  async fresh (conversationId: string, participantId: string, changes: Attributes, seqs: Sequences): Promise<Attributes> {
    const record = this.#written.get(conversationId)
    if (record === undefined || Object.keys(seqs).length === 0) return changes
    return Object.fromEntries(Object.entries(changes).filter(([k]) => !((record.get(`${participantId}\n${k}`) ?? 0) > (seqs[k] ?? Infinity))))
  }

  async written (conversationId: string, participantId: string, seqs: Sequences): Promise<void> {
    let record = this.#written.get(conversationId)
    if (record === undefined) this.#written.set(conversationId, (record = new Map()))
    for (const [k, seq] of Object.entries(seqs)) {
      const key = `${participantId}\n${k}`
      record.set(key, Math.max(record.get(key) ?? 0, seq))
    }
  }
}
