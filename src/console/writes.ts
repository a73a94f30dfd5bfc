import { LRUCache } from 'lru-cache'

/** The last write of a key through this service: who (the caller's key name) and when, as the console shows it beside the value. */
export interface LastWrite {
  caller: string
  at: number
}

/** participantId → key → its last writer; null-prototype objects, so read them with Object.hasOwn or lastWriteOf. */
export type LastWrites = Record<string, Record<string, LastWrite>>

/** What a caller without a key is called when authentication is off (sandbox). */
export const ANONYMOUS = 'anonymous (authentication off)'

/**
 * The writes that went through this service, by conversation: key names and the caller's API key
 * name, never a value. Bounded, so a busy service keeps only the conversations written lately.
 */
export class WriteLog {
  readonly #writers = new LRUCache<string, LastWrites>({ max: 2000 })

  record (conversationId: string, participantId: string, keys: readonly string[], caller: string, at: number): void {
    // Keyed by attribute names callers chose (toString, valueOf…): no prototype for one to land on.
    const writers = this.#writers.get(conversationId) ?? (Object.create(null) as LastWrites)
    const byKey = (writers[participantId] ??= Object.create(null) as Record<string, LastWrite>)
    for (const key of keys) byKey[key] = { caller, at }
    this.#writers.set(conversationId, writers)
  }

  writers (conversationId: string): LastWrites {
    return this.#writers.get(conversationId) ?? (Object.create(null) as LastWrites)
  }
}

/** Who last set `key` of a participant; undefined when nobody did through this service. */
export function lastWriteOf (writers: LastWrites, participantId: string, key: string): LastWrite | undefined {
  const byKey = Object.hasOwn(writers, participantId) ? writers[participantId] : undefined
  return byKey !== undefined && Object.hasOwn(byKey, key) ? byKey[key] : undefined
}
