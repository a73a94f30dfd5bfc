import { createClock, type Clock as SinonClock } from '@sinonjs/fake-timers'
import type { Clock, Timer } from '../../src/clock.ts'

/**
 * A clock a test steps: nothing fires until `advance` (or `next`) says time has passed, and
 * then in order, with pending promises settled between timers. Built on @sinonjs/fake-timers'
 * clock without installing it, so real sockets, Redis and tap keep the real time.
 */
export class FakeClock implements Clock {
  readonly #c: SinonClock

  constructor (start = Date.UTC(2026, 0, 1)) {
    this.#c = createClock(start)
  }

  /** Detached calls work: `const now = clock.now`. */
  readonly now = (): number => this.#c.now

  after (ms: number, fn: () => void): Timer {
    const id = this.#c.setTimeout(fn, Math.max(0, ms))
    return { cancel: () => this.#c.clearTimeout(id) }
  }

  every (ms: number, fn: () => void): Timer {
    const id = this.#c.setInterval(fn, ms)
    return { cancel: () => this.#c.clearInterval(id) }
  }

  sleep (ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const id = this.#c.setTimeout(() => {
        signal?.removeEventListener('abort', abort)
        resolve()
      }, Math.max(0, ms))
      const abort = (): void => {
        this.#c.clearTimeout(id)
        reject(signal!.reason)
      }
      signal?.addEventListener('abort', abort, { once: true })
    })
  }

  /** Moves time on by `ms`, firing every timer that falls due on the way, in order. */
  async advance (ms: number): Promise<void> {
    await this.#c.tickAsync(ms)
  }

  /** Moves time to the next timer and fires it; false when none is pending. */
  async next (): Promise<boolean> {
    if (this.#c.countTimers() === 0) return false
    await this.#c.nextAsync()
    return true
  }

  /** Timers waiting to fire. */
  get pending (): number {
    return this.#c.countTimers()
  }
}
