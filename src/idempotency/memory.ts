import { setTimeout as sleep } from 'node:timers/promises'
import { LRUCache } from 'lru-cache'
import { idempotencyKeyInFlight } from '../errors.js'
import type { Claim, IdempotencyStore, StoredAnswer } from './store.js'

interface Entry {
  fingerprint: string
  answer: StoredAnswer | undefined
  /** Resolves when the request holding the key settles. */
  settled: Promise<void>
}

export interface MemoryStoreOptions {
  /** Keys kept at most; the least recently used go first. */
  max: number
  ttlMs: number
}

/**
 * Idempotency keys in this process, each kept for ttlMs (24 h by default) and at most `max` of
 * them. Only successful answers are kept: a request that failed left nothing written, so its
 * retry should run again, not be told the same failure for a day.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries: LRUCache<string, Entry>

  constructor (opts: MemoryStoreOptions) {
    this.#entries = new LRUCache({ max: opts.max, ttl: opts.ttlMs })
  }

  async claim (key: string, fingerprint: string, deadline: number): Promise<Claim> {
    for (;;) {
      const entry = this.#entries.get(key)
      if (entry === undefined) return this.#hold(key, fingerprint)
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' }
      if (entry.answer !== undefined) return { kind: 'replay', answer: entry.answer }
      const late = Symbol('late')
      if ((await Promise.race([entry.settled, sleep(deadline - Date.now(), late)])) === late) throw idempotencyKeyInFlight()
    }
  }

  #hold (key: string, fingerprint: string): Claim {
    let release!: () => void
    const entry: Entry = { fingerprint, answer: undefined, settled: new Promise((resolve) => (release = resolve)) }
    this.#entries.set(key, entry)
    return {
      kind: 'new',
      settle: (answer) => {
        if (answer === undefined) {
          if (this.#entries.peek(key) === entry) this.#entries.delete(key)
        } else {
          entry.answer = answer
        }
        release()
      },
    }
  }
}
