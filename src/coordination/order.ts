import { LRUCache } from 'lru-cache'
import type { Attributes } from '../domain.ts'

/** Per key, the acceptance sequence of the value a write carries. */
export type Sequences = Record<string, number>

/**
 * Invariant 7 (docs/architecture.md): per key the value accepted last stands. An asynchronous update takes a number in
 * its conversation's sequence when it is accepted; each write records, per participant and key,
 * the number of the value it wrote. A synchronous write carries no number: it is newer than
 * anything accepted before it, so what it writes is recorded under a number taken as it is
 * written. Under the conversation lock, before each PATCH, keys whose value is older than the one
 * recorded are left out, so a retry, a slow replica or a late asynchronous delivery never writes
 * an older value over a newer one. Only a conversation's own numbers are ever compared.
 */
export interface Order {
  /** A number larger than any handed out or recorded before for this conversation, on any replica. */
  next(conversationId: string): Promise<number>
  /** The changes without the keys a newer update has already written; asked only when some key has a sequence. */
  unsuperseded(conversationId: string, participantId: string, changes: Attributes, seqs: Sequences): Promise<Attributes>
  /** Records what a write carried: `keys` written, numbered by `seqs` or, without one, by a new number. Keeps the larger. */
  written(conversationId: string, participantId: string, keys: string[], seqs: Sequences): Promise<void>
}

/** How long a conversation's record is kept after its last write: longer than any update may wait. */
export const ORDER_TTL_MS = 25 * 60 * 60 * 1000

/**
 * Per key, the value with the larger sequence; one without (a synchronous write) is newer than any
 * with one, and between two without, the later in arrival order wins.
 */
export function latest (updates: Iterable<{ changes: Attributes; seqs?: Sequences | undefined }>): { changes: Attributes; seqs: Sequences } {
  // Keyed by callers' attribute names (toString, hasOwnProperty…): no prototype to find them in.
  const changes: Attributes = Object.create(null)
  const seqs: Sequences = Object.create(null)
  for (const u of updates) {
    for (const [k, v] of Object.entries(u.changes)) {
      const seq = u.seqs !== undefined && Object.hasOwn(u.seqs, k) ? u.seqs[k] : undefined
      if (Object.hasOwn(changes, k) && (seqs[k] ?? Infinity) > (seq ?? Infinity)) continue
      changes[k] = v
      if (seq !== undefined) seqs[k] = seq
      else delete seqs[k]
    }
  }
  return { changes, seqs }
}

/** This process's own: for a single instance (no Redis). */
export class MemoryOrder implements Order {
  #seq = 0
  readonly #written = new LRUCache<string, Map<string, number>>({ max: 100_000, ttl: ORDER_TTL_MS })

  async next (_conversationId: string): Promise<number> {
    return ++this.#seq
  }

  async unsuperseded (conversationId: string, participantId: string, changes: Attributes, seqs: Sequences): Promise<Attributes> {
    const record = this.#written.get(conversationId)
    if (record === undefined) return changes
    return Object.fromEntries(Object.entries(changes).filter(([k]) => !((record.get(`${participantId}\n${k}`) ?? 0) > (seqs[k] ?? Infinity))))
  }

  async written (conversationId: string, participantId: string, keys: string[], seqs: Sequences): Promise<void> {
    if (keys.length === 0) return
    let record = this.#written.get(conversationId)
    if (record === undefined) this.#written.set(conversationId, (record = new Map()))
    let now: number | undefined
    for (const k of keys) {
      const key = `${participantId}\n${k}`
      record.set(key, Math.max(record.get(key) ?? 0, seqs[k] ?? (now ??= ++this.#seq)))
    }
  }
}
