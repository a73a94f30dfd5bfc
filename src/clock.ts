import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Time, injected (docs/architecture.md, "Time"). Everything that waits or dates takes a Clock:
 * the process passes `systemClock`; tests pass a fake one (test/helpers/clock.ts) and step it
 * through windows, leases, deadlines and backoff instead of waiting for them. Where Redis decides
 * by time (budget log, leases), its scripts read Redis's TIME instead, so replicas agree.
 */
export interface Timer {
  cancel (): void
}

export interface Clock {
  /** Milliseconds since the epoch; may be called detached (`const now = clock.now`). */
  now (): number
  /** Runs `fn` once, `ms` from now. `keepAlive: false` lets the process exit while it waits. */
  after (ms: number, fn: () => void, opts?: { keepAlive?: boolean }): Timer
  /** Runs `fn` every `ms` until cancelled; never keeps the process alive by itself. */
  every (ms: number, fn: () => void): Timer
  /** Resolves `ms` from now; rejects with the signal's reason if it aborts first. */
  sleep (ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: Date.now,
  after (ms, fn, { keepAlive = true } = {}) {
    const t = setTimeout(fn, Math.max(0, ms))
    if (!keepAlive) t.unref()
    return { cancel: () => clearTimeout(t) }
  },
  every (ms, fn) {
    const t = setInterval(fn, ms).unref()
    return { cancel: () => clearInterval(t) }
  },
  sleep: (ms, signal) => sleep(Math.max(0, ms), undefined, signal ? { signal } : undefined),
}
