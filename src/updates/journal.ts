import { systemClock, type Clock } from '../clock.ts'
import type { Attributes } from '../domain.ts'
import type { Entry, JournalStore } from '../coordination/index.ts'

/**
 * Read-your-writes. Genesys shows a write late (a read a moment after may still show the map
 * before it) and others write the same participant (flows, scripts, integrations). So, per
 * participant and key, for `GENESYS_PROPAGATION_MS` after each write the gateway keeps what it
 * wrote and the values it wrote over. A read that still shows one of those is late for that key,
 * and ours stands; a read that shows ours has caught up; a third value was written after ours by
 * someone else, and theirs stands. Either way the entry is then forgotten.
 */
/** How many older values an entry remembers: a burst of writes to one key within the window. */
const OLDER_KEPT = 16

export class Journal {
  readonly #store: JournalStore
  readonly #ttlMs: number
  readonly #clock: Clock

  constructor (store: JournalStore, ttlMs: number, clock: Clock = systemClock) {
    this.#store = store
    this.#ttlMs = ttlMs
    this.#clock = clock
  }

  /**
   * The participant's attributes as the gateway knows them: `read` with every late key shown as
   * written. Also answers the entries, for `wrote` after a write made on this read.
   */
  async correct (conversationId: string, participantId: string, read: Attributes): Promise<{ attributes: Attributes; entries: Map<string, Entry> }> {
    if (this.#ttlMs === 0) return { attributes: read, entries: new Map() }
    const entries = await this.#store.entries(conversationId, participantId)
    if (entries.size === 0) return { attributes: read, entries }
    const now = this.#clock.now()
    let attributes = read
    const forget: string[] = []
    for (const [key, e] of entries) {
      const shown = Object.hasOwn(read, key) ? read[key]! : null
      if (e.until <= now || shown === e.written || (e.older !== undefined && !e.older.includes(shown))) {
        // Expired, caught up, or someone else's later value: the read stands.
        forget.push(key)
      } else {
        if (attributes === read) attributes = { ...read }
        attributes[key] = e.written
      }
    }
    for (const key of forget) entries.delete(key)
    if (forget.length > 0) await this.#store.update(conversationId, participantId, new Map(), forget, this.#ttlMs)
    return { attributes, entries }
  }

  /**
   * After Genesys accepted a write of `changes`: `before` is the participant's map as corrected
   * just before (undefined when the write did not read), `entries` what `correct` answered then.
   */
  async wrote (
    conversationId: string,
    participantId: string,
    changes: Attributes,
    before: Attributes | undefined,
    entries = new Map<string, Entry>()
  ): Promise<void> {
    if (this.#ttlMs === 0) return
    const until = this.#clock.now() + this.#ttlMs
    const next = new Map<string, Entry>()
    for (const [key, written] of Object.entries(changes)) {
      const prior = entries.get(key)
      let older: Entry['older']
      if (before === undefined || (prior !== undefined && prior.older === undefined)) {
        older = undefined
      } else {
        const was = Object.hasOwn(before, key) ? before[key]! : null
        if (was === written && prior === undefined) continue // nothing changed, nothing to hide
        older = [...(prior?.older ?? []), ...(prior === undefined ? [] : [prior.written]), was]
          .filter((v, i, all) => v !== written && all.indexOf(v) === i)
          .slice(-OLDER_KEPT)
      }
      next.set(key, { written, older, until })
    }
    if (next.size > 0) await this.#store.update(conversationId, participantId, next, [], this.#ttlMs)
  }
}
