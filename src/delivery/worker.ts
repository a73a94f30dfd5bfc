import { performance } from 'node:perf_hooks'
import { systemClock, type Clock, type Timer } from '../clock.ts'
import { ApiError, CATALOGUE, type ErrorCode } from '../errors.ts'
import { backoff, type Backoff, type Updates } from '../updates/index.ts'
import { targetKey } from '../domain.ts'
import type { Claim, Delivery, DeliveryStore, Settling } from '../coordination/index.ts'
import type { DeliveryTracing } from './tracing.ts'

/**
 * One attempt may wait this long in the queue and budget before it is tried again later. An
 * attempt therefore ends within about this long, and its claim's lease (LEASE_MS) outlasts it:
 * no renewing. Both are counted from before the claim was sent (Claim.until), so a slow answer
 * from the store eats into the attempt, never into the margin. A replica that dies mid-attempt
 * lets go when the lease ends: within 30 s.
 */
const ATTEMPT_MS = 20_000
const LEASE_MS = 25_000

export interface DelivererOptions {
  /** ASYNC_MAX_AGE_MS: past this from acceptance, DELIVERY_EXPIRED. */
  maxAgeMs: number
  /** The pause between attempts (updates/retry.ts's backoff): from 500 ms, doubling up to 30 s. */
  backoff?: Partial<Backoff>
  clock?: Clock
  /** Told of each update an attempt carried, once its outcome is recorded: for the metrics. */
  onOutcome?: (d: Delivery) => void
  tracing?: DeliveryTracing | undefined
}

const problemOf = (code: ErrorCode, detail: string): Settling => ({ code, status: CATALOGUE[code].status, detail })

/**
 * One delivery attempt of a claimed conversation's pending updates: those for one participant go
 * into one write (per key, the value accepted last), through the write pipeline at bulk priority,
 * so they share the per-conversation queue, the lock and the request budget with synchronous
 * writes. A backlog folds however large it is: updates that piled up while their conversation
 * waited go out together. A failure whose catalogue entry is retryable leaves them `retrying`,
 * due again after the backoff; any other settles them `failed`.
 */
export class Deliverer {
  readonly #updates: Updates
  readonly #store: DeliveryStore
  readonly #opts: DelivererOptions & { backoff: Backoff }
  readonly #now: () => number

  constructor (updates: Updates, store: DeliveryStore, opts: DelivererOptions) {
    this.#updates = updates
    this.#store = store
    this.#opts = { ...opts, backoff: { baseMs: 500, maxMs: 30_000, random: Math.random, ...opts.backoff } }
    this.#now = (opts.clock ?? systemClock).now
  }

  /** Resolves once the attempt's outcome is recorded and its claim ended. */
  async deliver (claim: Claim): Promise<void> {
    const { tracing } = this.#opts
    const pending = await this.#store.pending(claim.conversationId)
    const attempt = () => this.#attempt(claim, pending)
    const delay = pending.length === 0 ? undefined : tracing === undefined ? await attempt() : await tracing.process(claim.conversationId, pending, attempt)
    await this.#store.finish(claim, pending, this.#now() + (delay ?? 0))
    if (this.#opts.onOutcome) pending.forEach(this.#opts.onOutcome)
  }

  /** The pause before the conversation is tried again; undefined when none of its updates is left. */
  async #attempt (claim: Claim, pending: Delivery[]): Promise<number | undefined> {
    const { maxAgeMs } = this.#opts
    const byTarget = new Map<string, Delivery[]>()
    for (const d of pending) {
      if (this.#now() < d.acceptedAt + maxAgeMs) byTarget.set(targetKey(d.target), [...(byTarget.get(targetKey(d.target)) ?? []), d])
      else this.#fail(d, problemOf('DELIVERY_EXPIRED', `not delivered within ${maxAgeMs} ms of acceptance${d.error ? ` (last: ${d.error.code})` : ''}`))
    }
    const retry = (await Promise.all([...byTarget.values()].map((group) => this.#write(claim, group)))).filter((ms) => ms !== undefined)
    return retry.length === 0 ? undefined : Math.min(...retry)
  }

  /** One write of a participant's updates; the pause before they are tried again, if they are to be. */
  async #write ({ conversationId, until }: Claim, group: Delivery[]): Promise<number | undefined> {
    const { maxAgeMs } = this.#opts
    // Worth making while any of them is young enough; the older ones expire at their next attempt.
    const expiresAt = Math.max(...group.map((d) => d.acceptedAt)) + maxAgeMs
    // ATTEMPT_MS from when the claim was sent, as its lease is: however slow the store was, the
    // attempt ends LEASE_MS - ATTEMPT_MS before another replica may take the conversation.
    const deadline = Math.min(until - LEASE_MS + ATTEMPT_MS, expiresAt)
    for (const d of group) d.attempts++
    try {
      const { participantId } = await this.#updates.deliver(conversationId, group[0]!.target, group, { priority: 'bulk', deadline })
      for (const d of group) {
        Object.assign(d, { participantId, state: 'written', settledAt: this.#now() })
        delete d.error
      }
      return undefined
    } catch (err) {
      const answer = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', 'the update could not be delivered', { cause: err })
      const { retryable } = CATALOGUE[answer.code]
      for (const d of group) this.#fail(d, problemOf(answer.code, answer.detail), retryable)
      if (!retryable) return undefined
      const soonest = Math.min(...group.map((d) => d.acceptedAt)) + maxAgeMs
      return Math.min(backoff(this.#opts.backoff, Math.max(...group.map((d) => d.attempts)), answer.retryAfter), Math.max(0, soonest - this.#now()))
    }
  }

  /** Settles it failed, or leaves it to be tried again. */
  #fail (d: Delivery, problem: Settling, retrying = false): void {
    d.error = problem
    d.state = retrying ? 'retrying' : 'failed'
    if (!retrying) d.settledAt = this.#now()
  }
}

export interface SchedulerOptions {
  /** Conversations this replica attempts at once. */
  concurrency: number
  /** How often it looks at the due list unprompted: for retries, other replicas' intake, lapsed claims. */
  pollMs?: number
  clock?: Clock
  /** The store failed: the due list is still there, and is looked at again at the next poll. */
  onError: (err: unknown) => void
}

/**
 * The one scheduler, the same over memory and Redis: it claims due conversations and runs an
 * attempt for each, up to `limit` at once, looking when told (an update accepted here, an attempt
 * ended) and every pollMs. Delivery yields to requests: at each poll the limit halves (to 1) if
 * the event loop was over 80% busy, else rises by one (to `concurrency`); updates wait in the
 * store meanwhile and fold into fewer writes. Without this, `npm run bench` measured async acceptance
 * at under half the req/s of synchronous writes: deliveries took the CPU (BENCHMARKS.md).
 */
export class Scheduler {
  readonly #store: DeliveryStore
  readonly #deliverer: Deliverer
  readonly #opts: Required<SchedulerOptions>
  readonly #running = new Set<Promise<void>>()
  readonly #poll: Timer
  #looking = false
  #again = false
  #stopped = false
  #elu = performance.eventLoopUtilization()
  /** Attempts it starts at once now (pdg_async_attempt_limit). */
  limit: number

  constructor (store: DeliveryStore, deliverer: Deliverer, opts: SchedulerOptions) {
    this.#store = store
    this.#deliverer = deliverer
    this.#opts = { pollMs: 100, clock: systemClock, ...opts }
    this.limit = opts.concurrency
    this.#poll = this.#opts.clock.every(this.#opts.pollMs, () => {
      const now = performance.eventLoopUtilization()
      const busy = performance.eventLoopUtilization(now, this.#elu).utilization > 0.8
      this.#elu = now
      this.limit = busy ? Math.max(1, this.limit >> 1) : Math.min(this.#opts.concurrency, this.limit + 1)
      this.wake()
    })
  }

  /** Looks for due conversations now; while it is looking, once more right after. */
  wake (): void {
    if (this.#stopped) return
    if (this.#looking) {
      this.#again = true
      return
    }
    this.#looking = true
    this.#again = false
    this.#claim().catch(this.#opts.onError).finally(() => {
      this.#looking = false
      if (this.#again) this.wake()
    })
  }

  async #claim (): Promise<void> {
    for (let free = this.limit - this.#running.size; free > 0 && !this.#stopped; free = this.limit - this.#running.size) {
      const claims = await this.#store.claim(LEASE_MS, free)
      for (const claim of claims) {
        const run: Promise<void> = this.#deliverer.deliver(claim).catch(this.#opts.onError).finally(() => {
          this.#running.delete(run)
          this.wake()
        })
        this.#running.add(run)
      }
      if (claims.length < free) return
    }
  }

  /** Shutdown has begun: no new claims (what is due is left for the other replicas). */
  stop (): void {
    this.#stopped = true
    this.#poll.cancel()
  }

  /** Waits, at most `withinMs`, for attempts under way to record their outcomes; a claim cut short lapses with its lease. */
  async close (withinMs = 2000): Promise<void> {
    this.stop()
    let timer: Timer | undefined
    // Not kept alive by this wait: the process may exit while an attempt hangs.
    const bound = new Promise<void>((resolve) => (timer = this.#opts.clock.after(withinMs, resolve, { keepAlive: false })))
    await Promise.race([Promise.allSettled([...this.#running]), bound])
    timer?.cancel()
  }
}
