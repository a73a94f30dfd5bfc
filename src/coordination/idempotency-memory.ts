import { LRUCache } from 'lru-cache'
import { systemClock, type Clock, type Timer } from '../clock.ts'
import { idempotencyKeyInFlight } from '../errors.ts'
import type { KeyVerdict, IdempotencyStore, StoredAnswer } from './idempotency.ts'

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
  clock?: Clock
}

/**
 * Idempotency keys in this process, each kept for ttlMs (24 h by default) and at most `max` of
 * them. Only successful answers are kept: a request that failed left nothing written, so its
 * retry should run again, not be told the same failure for a day.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries: LRUCache<string, Entry>
  readonly #clock: Clock

  constructor ({ max, ttlMs, clock = systemClock }: MemoryStoreOptions) {
    this.#clock = clock
    // ttlResolution 0: lru-cache would otherwise cache `now` for a millisecond on a real timer.
    this.#entries = new LRUCache({ max, ttl: ttlMs, ttlResolution: 0, perf: { now: clock.now } })
  }

  async claim (key: string, fingerprint: string, deadline: number): Promise<KeyVerdict> {
    for (;;) {
      const entry = this.#entries.get(key)
      if (entry === undefined) return this.#hold(key, fingerprint)
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' }
      if (entry.answer !== undefined) return { kind: 'replay', answer: entry.answer }
      let timer: Timer | undefined
      const late = new Promise<'late'>((resolve) => (timer = this.#clock.after(deadline - this.#clock.now(), () => resolve('late'))))
      const first = await Promise.race([entry.settled, late])
      timer?.cancel()
      if (first === 'late') throw idempotencyKeyInFlight()
    }
  }

  #hold (key: string, fingerprint: string): KeyVerdict {
    let release!: () => void
    const entry: Entry = { fingerprint, answer: undefined, settled: new Promise((resolve) => (release = resolve)) }
    this.#entries.set(key, entry)
    return {
      kind: 'new',
      settle: async (answer) => {
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
