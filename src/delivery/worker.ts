import { ApiError, CATALOGUE, type ErrorCode } from '../errors.js'
import type { Updates } from '../updates/plugin.js'
import type { Delivery, DeliveryStore, Settling } from './store.js'
import type { DeliveryTracing } from './tracing.js'

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

export interface DelivererOptions {
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
  /** A span per attempt, linked to the update's acceptance; absent when tracing is off. */
  tracing?: DeliveryTracing | undefined
}

export const problemOf = (code: ErrorCode, detail: string): Settling => ({ code, status: CATALOGUE[code].status, detail })

/**
 * One delivery attempt of an accepted update, through the write pipeline at bulk priority, so it
 * shares the per-conversation queue (coalescing), the lock and the request budget with
 * synchronous writes. Whoever schedules attempts (in process, or BullMQ) is told when to try
 * again; the outcome is recorded in the store.
 */
export class Deliverer {
  readonly #updates: Updates
  readonly #store: DeliveryStore
  readonly #opts: Required<Pick<DelivererOptions, 'maxAgeMs' | 'baseDelayMs' | 'maxDelayMs' | 'clock' | 'random'>> & DelivererOptions

  constructor (updates: Updates, store: DeliveryStore, opts: DelivererOptions) {
    this.#updates = updates
    this.#store = store
    this.#opts = { baseDelayMs: 500, maxDelayMs: 30_000, clock: Date.now, random: Math.random, ...opts }
  }

  get maxDelayMs (): number {
    return this.#opts.maxDelayMs
  }

  /** Undefined once the update has settled (written or failed); else the pause before the next attempt. */
  attempt (d: Delivery): Promise<number | undefined> {
    const { tracing } = this.#opts
    return tracing === undefined ? this.#attempt(d) : tracing.process(d, () => this.#attempt(d))
  }

  async #attempt (d: Delivery): Promise<number | undefined> {
    const { clock, maxAgeMs } = this.#opts
    const expiresAt = d.acceptedAt + maxAgeMs
    if (clock() >= expiresAt) return this.#fail(d, problemOf('DELIVERY_EXPIRED', `not delivered within ${maxAgeMs} ms of acceptance${d.error ? ` (last: ${d.error.code})` : ''}`))
    d.attempts++
    try {
      const result = await this.#updates.submit(d.conversationId, d.target, { changes: d.changes, seq: d.seq, priority: 'bulk', deadline: Math.min(clock() + ATTEMPT_MS, expiresAt) })
      d.participantId = result.participantId
      d.state = 'written'
      d.settledAt = clock()
      delete d.error
      await this.#store.save(d)
      this.#opts.onWritten?.(d)
      return undefined
    } catch (err) {
      const answer = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', 'the update could not be delivered', { cause: err })
      const problem = problemOf(answer.code, answer.detail)
      if (!RETRYABLE.has(answer.code)) return this.#fail(d, problem)
      d.state = 'retrying'
      d.error = problem
      await this.#store.save(d)
      this.#opts.onRetry?.(d, answer.code)
      return Math.min(this.#backoff(d.attempts, answer.retryAfter), Math.max(0, expiresAt - clock()))
    }
  }

  #backoff (attempts: number, retryAfter: number | undefined): number {
    const { baseDelayMs, maxDelayMs, random } = this.#opts
    const backoff = Math.min(baseDelayMs * 2 ** (attempts - 1), maxDelayMs) * (0.5 + random())
    return Math.round(Math.max(backoff, (retryAfter ?? 0) * 1000))
  }

  async #fail (d: Delivery, problem: Settling): Promise<undefined> {
    d.state = 'failed'
    d.error = problem
    d.settledAt = this.#opts.clock()
    await this.#store.save(d)
    this.#opts.onFailed?.(d)
    return undefined
  }
}

/** Where accepted updates go to be delivered: this process's timers, or a queue in Redis. */
export interface Scheduler {
  /** Resolves once the update is queued (stored, for a durable one). */
  enqueue(d: Delivery): Promise<void>
  /** Shutdown has begun: take no new work that another replica could take instead. */
  pause?(): Promise<void>
  /** No new attempts; resolves when those in flight have ended. */
  close(): Promise<void>
}

/**
 * Attempts in this process: the first at once (an idle system delivers within one round trip),
 * each retry on a timer. Not durable: for the memory store only.
 */
export class LocalScheduler implements Scheduler {
  readonly #deliverer: Deliverer
  readonly #onError: (err: unknown, d: Delivery) => void
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #running = new Set<Promise<void>>()
  #closed = false

  constructor (deliverer: Deliverer, onError: (err: unknown, d: Delivery) => void = () => {}) {
    this.#deliverer = deliverer
    this.#onError = onError
  }

  async enqueue (d: Delivery): Promise<void> {
    void this.deliver(d)
  }

  /** Runs one attempt; resolves once it has ended (settled, or the next one scheduled). */
  deliver (d: Delivery): Promise<void> {
    const run = this.#deliverer
      .attempt(d)
      .then((delay) => {
        if (delay !== undefined) this.#later(d, delay)
      })
      .catch((err: unknown) => {
        // The store failed while recording the outcome: tried again later.
        this.#onError(err, d)
        this.#later(d, this.#deliverer.maxDelayMs)
      })
      .finally(() => this.#running.delete(run))
    this.#running.add(run)
    return run
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await Promise.allSettled([...this.#running])
  }

  #later (d: Delivery, ms: number): void {
    if (this.#closed) return
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      void this.deliver(d)
    }, ms)
    this.#timers.add(timer)
  }
}
