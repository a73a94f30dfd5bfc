import { LRUCache } from 'lru-cache'

/** Read-your-writes' record (src/updates/journal.ts): per participant and key, what the gateway wrote lately and the values it wrote over. */
export interface Entry {
  /** The value written ('' clears a key). */
  written: string
  /** Values it was written over, known to be older (null: absent); undefined when unknown (patch mode did not read). */
  older: Array<string | null> | undefined
  /** Epoch ms after which a read is trusted again. */
  until: number
}

/** Where entries are kept: this process's memory, or Redis for replicas (journal-redis.ts). */
export interface JournalStore {
  /** The participant's entries, expired ones included. */
  entries(conversationId: string, participantId: string): Promise<Map<string, Entry>>
  /** Sets `entries` and forgets the keys in `forget`, kept at least `ttlMs`. */
  update(conversationId: string, participantId: string, entries: Map<string, Entry>, forget: string[], ttlMs: number): Promise<void>
}

/** This process's own: a single instance (no Redis). A restart forgets it. */
export class MemoryJournalStore implements JournalStore {
  readonly #byParticipant = new LRUCache<string, Map<string, Entry>>({ max: 100_000 })

  async entries (conversationId: string, participantId: string): Promise<Map<string, Entry>> {
    return new Map(this.#byParticipant.get(`${conversationId}\n${participantId}`))
  }

  async update (conversationId: string, participantId: string, entries: Map<string, Entry>, forget: string[], ttlMs: number): Promise<void> {
    const id = `${conversationId}\n${participantId}`
    const kept = this.#byParticipant.get(id) ?? new Map<string, Entry>()
    for (const key of forget) kept.delete(key)
    for (const [key, e] of entries) kept.set(key, e)
    if (kept.size === 0) this.#byParticipant.delete(id)
    else this.#byParticipant.set(id, kept, { ttl: ttlMs })
  }
}
