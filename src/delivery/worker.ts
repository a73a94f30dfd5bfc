import { ApiError, CATALOGUE, type ErrorCode } from '../errors.js'
import type { Updates } from '../updates/plugin.js'
import type { Delivery, DeliveryStore, Settling } from './store.js'

/**
 * Failures that say nothing about the update itself: Genesys or the pipeline was busy, down or
 * unreachable, or the write's fate is unknown (a retry carries the same values, so it is safe).
 * UPSTREAM_AUTH_FAILED too: the credentials are the operator's to fix, and the update is still
 * good once they are. Anything else (a 4xx from Genesys, no such participant) would fail again.
 */
const RETRYABLE = new Set<ErrorCode>([
  'UPSTREAM_RATE_LIMITED',
  'UPSTREAM_ERROR',
  'UPSTREAM_OUTCOME_UNKNOWN',
  'UPSTREAM_CONFLICT',
  'UPSTREAM_AUTH_FAILED',
  'RATE_BUDGET_EXHAUSTED',
  'OVERLOADED',
  'COORDINATION_UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'SHUTTING_DOWN',
])

/** One attempt may wait this long in the queue and budget before it is tried again later. */
const ATTEMPT_MS = 60_000

export interface WorkerOptions {
  /** ASYNC_MAX_AGE_MS: past this from acceptance, DELIVERY_EXPIRED. */
  maxAgeMs: number
  /** First pause between attempts; it doubles up to maxDelayMs, each jittered ±50%. */
  baseDelayMs?: number
  maxDelayMs?: number
  clock?: () => number
  random?: () => number
  onWritten?: (d: Delivery) => void
  onFailed?: (d: Delivery) => void
  onRetry?: (d: Delivery, code: ErrorCode) => void
  /** The store failed while recording an outcome; the update is tried again later. */
  onError?: (err: unknown, d: Delivery) => void
}

export const problemOf = (code: ErrorCode, detail: string): Settling => ({ code, status: CATALOGUE[code].status, detail })

/**
 * Delivers accepted updates through the write pipeline at bulk priority, so they share the
 * per-conversation queue (coalescing), the lock and the request budget with synchronous writes.
 * Each update is tried at once (an idle system delivers within one round trip), then again with
 * jittered backoff after each retryable failure, until it is written, fails for good, or expires.
 */
export class DeliveryWorker {
  readonly #updates: Updates
  readonly #store: DeliveryStore
  readonly #opts: Required<Pick<WorkerOptions, 'maxAgeMs' | 'baseDelayMs' | 'maxDelayMs' | 'clock' | 'random'>> & WorkerOptions
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #running = new Set<Promise<void>>()
  #closed = false

  constructor (updates: Updates, store: DeliveryStore, opts: WorkerOptions) {
    this.#updates = updates
    this.#store = store
    this.#opts = { baseDelayMs: 500, maxDelayMs: 30_000, clock: Date.now, random: Math.random, ...opts }
  }

  /** Starts delivering; resolves once this attempt has ended (settled or scheduled again). */
  deliver (d: Delivery): Promise<void> {
    const run = this.#attempt(d)
      .catch((err: unknown) => {
        this.#opts.onError?.(err, d)
        if (!this.#closed) this.#later(d, this.#opts.maxDelayMs)
      })
      .finally(() => this.#running.delete(run))
    this.#running.add(run)
    return run
  }

  /** Attempts in flight, for shutdown. */
  get inFlight (): number {
    return this.#running.size
  }

  /** No new attempts; resolves when those in flight have ended (the queue answers them by its close). */
  async close (): Promise<void> {
    this.#closed = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await Promise.allSettled([...this.#running])
  }

  async #attempt (d: Delivery): Promise<void> {
    const { clock, maxAgeMs } = this.#opts
    const expiresAt = d.acceptedAt + maxAgeMs
    if (clock() >= expiresAt) return this.#fail(d, problemOf('DELIVERY_EXPIRED', `not delivered within ${maxAgeMs} ms of acceptance${d.error ? ` (last: ${d.error.code})` : ''}`))
    d.attempts++
    try {
      const result = await this.#updates.submit(d.conversationId, d.target, { changes: d.changes, priority: 'bulk', deadline: Math.min(clock() + ATTEMPT_MS, expiresAt) })
      d.participantId = result.participantId
      d.state = 'written'
      d.settledAt = clock()
      delete d.error
      await this.#store.save(d)
      this.#opts.onWritten?.(d)
    } catch (err) {
      const answer = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', 'the update could not be delivered', { cause: err })
      const problem = problemOf(answer.code, answer.detail)
      if (!RETRYABLE.has(answer.code)) return this.#fail(d, problem)
      d.state = 'retrying'
      d.error = problem
      await this.#store.save(d)
      this.#opts.onRetry?.(d, answer.code)
      if (!this.#closed) this.#later(d, Math.min(this.#backoff(d.attempts, answer.retryAfter), Math.max(0, expiresAt - clock())))
    }
  }

  #backoff (attempts: number, retryAfter: number | undefined): number {
    const { baseDelayMs, maxDelayMs, random } = this.#opts
    const backoff = Math.min(baseDelayMs * 2 ** (attempts - 1), maxDelayMs) * (0.5 + random())
    return Math.round(Math.max(backoff, (retryAfter ?? 0) * 1000))
  }

  #later (d: Delivery, ms: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      void this.deliver(d)
    }, ms)
    this.#timers.add(timer)
  }

  async #fail (d: Delivery, problem: Settling): Promise<void> {
    d.state = 'failed'
    d.error = problem
    d.settledAt = this.#opts.clock()
    await this.#store.save(d)
    this.#opts.onFailed?.(d)
  }
}
