import { LRUCache } from 'lru-cache'

/** Who last set a key through this service, as the console shows it beside the value. */
export interface Writer {
  caller: string
  at: number
}

/** participantId → key → its last writer. */
export type Writers = Record<string, Record<string, Writer>>

/** What a caller without a key is called when authentication is off (sandbox). */
export const ANONYMOUS = 'anonymous (authentication off)'

/**
 * The writes that went through this service, by conversation: key names and the caller's API key
 * name, never a value. Bounded, so a busy service keeps only the conversations written lately.
 */
export class WriteLog {
  readonly #writers = new LRUCache<string, Writers>({ max: 2000 })

  record (conversationId: string, participantId: string, keys: readonly string[], caller: string, at: number): void {
    const writers = this.#writers.get(conversationId) ?? {}
    const byKey = (writers[participantId] ??= {})
    for (const key of keys) byKey[key] = { caller, at }
    this.#writers.set(conversationId, writers)
  }

  writers (conversationId: string): Writers {
    return this.#writers.get(conversationId) ?? {}
  }
}
