import { ApiError, CATALOGUE, type ErrorCode } from '../errors.js'
import { latest } from '../updates/order.js'
import type { Updates } from '../updates/plugin.js'
import { targetKey } from '../updates/ports.js'
import type { Pacer } from './pace.js'
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
  /** When attempts may start (fewer at once while the replica is busy); each at once without it. */
  pacer?: Pacer | undefined
}

export const problemOf = (code: ErrorCode, detail: string): Settling => ({ code, status: CATALOGUE[code].status, detail })

/**
 * One delivery attempt of a conversation's pending updates: those for one participant go into
 * one write (per key, the value accepted last), through the write pipeline at bulk priority, so
 * they share the per-conversation queue, the lock and the request budget with synchronous writes.
 * A backlog folds however large it is: updates that piled up while their conversation waited go
 * out together. Whoever schedules attempts (this process's timers, or BullMQ) is told when to try
 * again; each update's outcome is recorded in the store.
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

  /** Undefined once none of the conversation's updates is left unsettled; else the pause before the next attempt. */
  deliver (conversationId: string): Promise<number | undefined> {
    const { pacer } = this.#opts
    // An attempt that did not start (turned away while the replica is busy, or it is stopping) is
    // tried again after the first pause: by any replica, when BullMQ schedules it.
    return pacer === undefined ? this.#deliver(conversationId) : pacer.run(() => this.#deliver(conversationId), this.#opts.baseDelayMs)
  }

  async #deliver (conversationId: string): Promise<number | undefined> {
    // Every update of the conversation accepted until now, also those that came while this attempt waited its turn.
    const pending = await this.#store.pending(conversationId)
    if (pending.length === 0) return undefined
    const { tracing } = this.#opts
    const attempt = () => this.#attempt(conversationId, pending)
    return tracing === undefined ? attempt() : tracing.process(conversationId, pending, attempt)
  }

  async #attempt (conversationId: string, pending: Delivery[]): Promise<number | undefined> {
    const { clock, maxAgeMs } = this.#opts
    const byTarget = new Map<string, Delivery[]>()
    for (const d of pending) {
      if (clock() >= d.acceptedAt + maxAgeMs) {
        this.#fail(d, problemOf('DELIVERY_EXPIRED', `not delivered within ${maxAgeMs} ms of acceptance${d.error ? ` (last: ${d.error.code})` : ''}`))
        continue
      }
      const key = targetKey(d.target)
      const group = byTarget.get(key)
      if (group === undefined) byTarget.set(key, [d])
      else group.push(d)
    }
    const delays = await Promise.all([...byTarget.values()].map((group) => this.#write(conversationId, group)))
    await this.#store.save(pending)
    for (const d of pending) {
      if (d.state === 'written') this.#opts.onWritten?.(d)
      else if (d.state === 'failed') this.#opts.onFailed?.(d)
      else this.#opts.onRetry?.(d, d.error!.code)
    }
    const retry = delays.filter((ms) => ms !== undefined)
    return retry.length === 0 ? undefined : Math.min(...retry)
  }

  /** One write of a participant's updates; the pause before they are tried again, if they are to be. */
  async #write (conversationId: string, group: Delivery[]): Promise<number | undefined> {
    const { clock, maxAgeMs } = this.#opts
    const { changes, seqs } = latest(group.map((d) => ({ changes: d.changes, seqs: Object.fromEntries(Object.keys(d.changes).map((k) => [k, d.seq])) })))
    // Worth making while any of them is young enough; the older ones expire at their next attempt.
    const expiresAt = Math.max(...group.map((d) => d.acceptedAt)) + maxAgeMs
    for (const d of group) d.attempts++
    try {
      const result = await this.#updates.submit(conversationId, group[0]!.target, { changes, seqs, priority: 'bulk', deadline: Math.min(clock() + ATTEMPT_MS, expiresAt) })
      for (const d of group) {
        d.participantId = result.participantId
        d.state = 'written'
        d.settledAt = clock()
        delete d.error
      }
      return undefined
    } catch (err) {
      const answer = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', 'the update could not be delivered', { cause: err })
      const problem = problemOf(answer.code, answer.detail)
      if (!RETRYABLE.has(answer.code)) {
        for (const d of group) this.#fail(d, problem)
        return undefined
      }
      for (const d of group) {
        d.state = 'retrying'
        d.error = problem
      }
      const soonest = Math.min(...group.map((d) => d.acceptedAt)) + maxAgeMs
      return Math.min(this.#backoff(Math.max(...group.map((d) => d.attempts)), answer.retryAfter), Math.max(0, soonest - clock()))
    }
  }

  #backoff (attempts: number, retryAfter: number | undefined): number {
    const { baseDelayMs, maxDelayMs, random } = this.#opts
    const backoff = Math.min(baseDelayMs * 2 ** (attempts - 1), maxDelayMs) * (0.5 + random())
    return Math.round(Math.max(backoff, (retryAfter ?? 0) * 1000))
  }

  #fail (d: Delivery, problem: Settling): void {
    d.state = 'failed'
    d.error = problem
    d.settledAt = this.#opts.clock()
  }
}

/** Where accepted updates go to be delivered: this process's timers, or a queue in Redis. */
export interface Scheduler {
  /** Resolves once the conversation is queued for delivery (durably, for a durable one). */
  enqueue(conversationId: string): Promise<void>
  /** Shutdown has begun: take no new work that another replica could take instead. */
  pause?(): Promise<void>
  /** No new attempts; resolves when those in flight have ended. */
  close(): Promise<void>
}

/**
 * Attempts in this process, one conversation at a time each: the first at once (an idle system
 * delivers within one round trip); updates accepted during an attempt get the next one, right
 * after; a retry waits on a timer. Not durable: for the memory store only.
 */
export class LocalScheduler implements Scheduler {
  readonly #deliverer: Deliverer
  readonly #onError: (err: unknown, conversationId: string) => void
  /** Conversations being attempted: true when updates came meanwhile. */
  readonly #running = new Map<string, boolean>()
  readonly #attempts = new Set<Promise<void>>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  #closed = false

  constructor (deliverer: Deliverer, onError: (err: unknown, conversationId: string) => void = () => {}) {
    this.#deliverer = deliverer
    this.#onError = onError
  }

  async enqueue (conversationId: string): Promise<void> {
    void this.deliver(conversationId)
  }

  /** Runs an attempt now, or right after the one running; resolves once this one has ended. */
  deliver (conversationId: string): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (this.#running.has(conversationId)) {
      this.#running.set(conversationId, true)
      return Promise.resolve()
    }
    clearTimeout(this.#timers.get(conversationId))
    this.#timers.delete(conversationId)
    this.#running.set(conversationId, false)
    const run = this.#deliverer
      .deliver(conversationId)
      .catch((err: unknown) => {
        // The store failed: tried again later.
        this.#onError(err, conversationId)
        return this.#deliverer.maxDelayMs
      })
      .then((delay) => {
        const more = this.#running.get(conversationId) === true
        this.#running.delete(conversationId)
        this.#attempts.delete(run)
        if (more) void this.deliver(conversationId)
        else if (delay !== undefined) this.#later(conversationId, delay)
      })
    this.#attempts.add(run)
    return run
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
    await Promise.allSettled([...this.#attempts])
  }

  #later (conversationId: string, ms: number): void {
    if (this.#closed || this.#timers.has(conversationId)) return
    this.#timers.set(conversationId, setTimeout(() => {
      this.#timers.delete(conversationId)
      void this.deliver(conversationId)
    }, ms))
  }
}
