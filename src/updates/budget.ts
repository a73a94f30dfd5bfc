import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { coordinationUnavailable, rateBudgetExhausted, type ApiError } from '../errors.js'
import { GENESYS_API_TAG } from '../plugins/redis.js'
import type { PipelineTracing } from './tracing.js'

/** live: a flow is waiting on the answer. bulk: a back-office sync that can wait its turn. */
export type Priority = 'live' | 'bulk'

export interface BudgetOptions {
  /** Upstream requests allowed in any window of `windowMs`. */
  requests: number
  windowMs: number
  /** Builds the shared counter; in memory unless another store (Redis) is passed. */
  limiter?: (opts: { points: number; duration: number; keyPrefix: string }) => RateLimiterAbstract
  clock?: () => number
  /** Told when a caller has to wait, and when one is refused. */
  onWait?: (priority: Priority) => void
  onRefuse?: (priority: Priority) => void
  /** A span for each wait; absent when tracing is off. */
  tracing?: PipelineTracing | undefined
}

/** Lets a caller waiting at bulk priority be moved up, when a live caller comes to depend on it. */
export interface Ticket {
  promote?: () => void
}

interface Waiter {
  priority: Priority
  /** Units this caller still needs, this one included. */
  units: number
  /** The queue it waits in (it changes when promoted). */
  queue: Waiter[]
  resolve: () => void
  reject: (err: ApiError) => void
  timer: NodeJS.Timeout
}

// Hash-tagged: `<prefix>budget:{genesys-api}` and `<prefix>budget-bulk:{genesys-api}` share a slot.
const KEY = GENESYS_API_TAG

/**
 * Limiters count in fixed windows, and fixed windows let twice the budget through across a
 * boundary: a full window's worth at the end of one and again at the start of the next, which
 * Genesys answers with 429s. So the window is cut into k slices of P requests with (k+1)·P ≤
 * budget: any window-long interval overlaps at most k+1 slices, so it never holds more than the
 * budget. The price is one slice's share (270 of 300 per minute), worth zero 429s.
 */
export function slicing (requests: number, windowMs: number): { points: number; sliceMs: number } {
  // Shared (Redis) counters expire in whole seconds, so slices are whole seconds when they can be.
  const counts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  const whole = counts.filter((n) => (windowMs / n) % 1000 === 0)
  let k = 0 // the most usable requests, and on a tie the shorter slices: smoother flow
  for (const n of whole.length > 0 ? whole : counts) if (k === 0 || Math.floor(requests / (n + 1)) * n >= Math.floor(requests / (k + 1)) * k) k = n
  return { points: Math.floor(requests / (k + 1)), sliceMs: windowMs / k }
}

/**
 * The upstream request budget, shared by every write. A request takes one unit before it is
 * sent; when none is left it waits for the next slice if that comes before its deadline, and
 * is refused at once with RATE_BUDGET_EXHAUSTED if it would not. Live callers are served
 * first, and bulk callers never take the last fifth of a slice (counted by a second limiter of
 * their own), so a bulk flood cannot make a flow wait more than one slice. Within a priority, a
 * caller's last request (a write whose read is done) goes before first requests: budget spent
 * on a read whose write then cannot be sent is budget wasted.
 */
export class RateBudget {
  readonly #limiter: RateLimiterAbstract
  readonly #bulk: RateLimiterAbstract
  readonly #points: number
  readonly #bulkPoints: number
  readonly #sliceMs: number
  readonly #clock: () => number
  readonly #onWait: (priority: Priority) => void
  readonly #onRefuse: (priority: Priority) => void
  readonly #tracing: PipelineTracing | undefined
  /** Served in this order: live finishing, live starting, bulk finishing, bulk starting. */
  readonly #queues: Waiter[][] = [[], [], [], []]
  #timer: NodeJS.Timeout | undefined
  #pumping = false

  constructor (opts: BudgetOptions) {
    const { points, sliceMs } = slicing(opts.requests, opts.windowMs)
    const make = opts.limiter ?? ((o) => new RateLimiterMemory(o))
    this.#points = points
    this.#bulkPoints = points - Math.floor(points / 5)
    this.#limiter = make({ points, duration: sliceMs / 1000, keyPrefix: 'budget' })
    this.#bulk = make({ points: this.#bulkPoints, duration: sliceMs / 1000, keyPrefix: 'budget-bulk' })
    this.#sliceMs = sliceMs
    this.#clock = opts.clock ?? Date.now
    this.#onWait = opts.onWait ?? (() => {})
    this.#onRefuse = opts.onRefuse ?? (() => {})
    this.#tracing = opts.tracing
  }

  /** Requests this budget lets through in one slice, and the slice's length. */
  get slice (): { points: number; ms: number } {
    return { points: this.#points, ms: this.#sliceMs }
  }

  /**
   * Resolves when one request may be sent; rejects with RATE_BUDGET_EXHAUSTED. `more`: the
   * requests the caller will need right after this one (a read is followed by its write), so it
   * is refused now, before spending anything, if it could not finish by its deadline.
   */
  async take (priority: Priority, deadline: number, more = 0, ticket?: Ticket): Promise<void> {
    const rank = (priority === 'live' ? 0 : 2) + (more === 0 ? 0 : 1)
    let ahead = 0
    for (let i = 0; i <= rank; i++) for (const w of this.#queues[i]!) ahead += w.units
    let msBeforeNext: number
    if (ahead === 0) {
      const res = await this.#consume(priority)
      if (res === 0) return
      msBeforeNext = res
    } else {
      msBeforeNext = (await this.#limiter.get(KEY).catch((err: unknown) => Promise.reject(coordinationUnavailable(err))))?.msBeforeNext ?? 0
    }
    // Those ahead take whole slices first; later live arrivals may still pass a bulk caller.
    const perSlice = priority === 'live' ? this.#points : this.#bulkPoints
    const wait = msBeforeNext + Math.floor((ahead + more) / perSlice) * this.#sliceMs
    if (this.#clock() + wait >= deadline) {
      this.#onRefuse(priority)
      throw rateBudgetExhausted(wait)
    }
    this.#onWait(priority)
    const waiting = () => new Promise<void>((resolve, reject) => {
      const queue = this.#queues[rank]!
      const waiter: Waiter = {
        priority,
        units: 1 + more,
        queue,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiter.queue.splice(waiter.queue.indexOf(waiter), 1)
          this.#onRefuse(waiter.priority)
          reject(rateBudgetExhausted(this.#sliceMs))
        }, deadline - this.#clock()),
      }
      queue.push(waiter)
      if (ticket !== undefined && priority === 'bulk') {
        ticket.promote = () => {
          const at = waiter.queue.indexOf(waiter)
          if (at === -1) return
          waiter.queue.splice(at, 1)
          waiter.priority = 'live'
          waiter.queue = this.#queues[rank - 2]!
          waiter.queue.push(waiter)
        }
      }
      this.#schedule(msBeforeNext)
    })
    return this.#tracing === undefined ? waiting() : this.#tracing.wait('rate budget wait', { 'pdg.priority': priority }, waiting)
  }

  /** 0 when a unit was taken, else the ms until the current slice ends. */
  async #consume (priority: Priority): Promise<number> {
    try {
      // A bulk unit first: when bulk callers have had their share of the slice, they wait.
      if (priority === 'bulk') await this.#bulk.consume(KEY)
      await this.#limiter.consume(KEY)
      return 0
    } catch (err) {
      if (err instanceof RateLimiterRes) return Math.max(err.msBeforeNext, 1)
      throw coordinationUnavailable(err)
    }
  }

  #schedule (ms: number): void {
    if (this.#timer === undefined) this.#timer = setTimeout(() => { void this.#pump() }, ms)
  }

  /** Hands the new slice's units to the waiting callers, in rank order, then arrival order. */
  async #pump (): Promise<void> {
    this.#timer = undefined
    if (this.#pumping) return
    this.#pumping = true
    try {
      for (;;) {
        const head = this.#queues.find((q) => q.length > 0)?.[0]
        if (head === undefined) return
        let wait: number
        try {
          wait = await this.#consume(head.priority)
        } catch (err) {
          // The shared counter is unreachable: nobody waiting can be served; they hear why now.
          for (const w of this.#queues.flatMap((q) => q.splice(0))) {
            clearTimeout(w.timer)
            w.reject(err as ApiError)
          }
          return
        }
        if (wait > 0) return this.#schedule(wait)
        // The head may have timed out (or moved up) while we asked: its unit goes unused, which
        // wastes budget but never exceeds it.
        const at = head.queue.indexOf(head)
        if (at === -1) continue
        head.queue.splice(at, 1)
        clearTimeout(head.timer)
        head.resolve()
      }
    } finally {
      this.#pumping = false
    }
  }
}
