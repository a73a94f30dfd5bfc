import type { IncomingHttpHeaders } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiError, coordinationUnavailable, rateBudgetExhausted } from '../errors.js'
import { headerNumber, retryAfter } from '../genesys/upstream-error.js'
import { MemoryBudgetLog, type BudgetLog, type Grant, type LogSettings } from './budget-log.js'
import type { PipelineTracing } from './tracing.js'

/** live: a flow is waiting on the answer. bulk: a back-office sync that can wait its turn. */
export type Priority = 'live' | 'bulk'

export interface BudgetOptions {
  /** Upstream requests allowed in any window of `windowMs`. */
  requests: number
  windowMs: number
  /**
   * Whether Genesys's answers reach observe(). Only then, after an idle window, does one write go
   * first, since its answer may say that Genesys allows less than configured.
   */
  hears?: boolean
  /** Builds the shared log; in memory unless another (Redis) is passed. */
  log?: (settings: LogSettings) => BudgetLog
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

/** Units taken for one write (its read and its PATCH), spent one request at a time. */
export interface Reservation {
  /**
   * Before each request: waits out a pause Genesys asked for (a 429's Retry-After) when the
   * deadline allows, else rejects RATE_BUDGET_EXHAUSTED; then dates the unit to now.
   */
  send(deadline: number): Promise<void>
  /** Gives back the units that were not sent (the read found the conversation ended, say). */
  release(): void
}

interface Waiter {
  priority: Priority
  units: number
  deadline: number
  /** Its last estimate of the wait, for the Retry-After it is refused with. */
  waitMs: number
  /** The queue it waits in (it changes when promoted). */
  queue: Waiter[]
  resolve: (ids: string[]) => void
  reject: (err: ApiError) => void
  timer: NodeJS.Timeout
}

/** The log's settings for a budget of `requests` per `windowMs`. */
export function logSettings (requests: number, windowMs: number, hears = false): LogSettings {
  // Genesys counts a request from when it arrives, a little after we date it here (the event
  // loop, the network, a replica's stamp reaching Redis): each unit counts a little longer here
  // than there (1 s of a minute; at least 200 ms for the short windows of tests), so no window of
  // Genesys's sees more.
  const margin = Math.min(1000, Math.max(200, Math.ceil(windowMs / 20)))
  // One write (two units) may go out before anything has been heard for a window: its answer's
  // inin-ratelimit-allowed may say Genesys allows less than we were told.
  return { requests, windowMs: windowMs + margin, probe: hears ? 2 : requests, probeMs: Math.min(2000, windowMs / 10), learnedMs: 10 * windowMs }
}

/**
 * The upstream request budget, shared by every request to Genesys (invariant 11): at most the
 * limit in any window-long interval, counted in a sliding log (exact, unlike fixed-window
 * counters), so after an idle window the whole limit is there for a burst.
 *
 * - A write reserves its whole cost (read and PATCH) at once before its first request, so no read
 *   is made for a write the budget would then refuse.
 * - A caller who cannot be served before its deadline is refused at once, with Retry-After set to
 *   when the units free up; one who can waits, live callers before bulk ones. A live caller that
 *   waits holds bulk back, on every replica, until it is served.
 * - Genesys's word wins: a 429 pauses every request until its Retry-After, on every replica, and
 *   inin-ratelimit-allowed lowers the limit (never above the configured one).
 */
export class RateBudget {
  readonly #log: BudgetLog
  readonly #requests: number
  readonly #windowMs: number
  readonly #clock: () => number
  readonly #onWait: (priority: Priority) => void
  readonly #onRefuse: (priority: Priority) => void
  readonly #tracing: PipelineTracing | undefined
  /** Served in this order: live, then bulk; within each, in arrival order. */
  readonly #queues: [Waiter[], Waiter[]] = [[], []]
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  #pumping = false
  #limit: number
  /** A 429's Retry-After, as this replica knows it; the log holds the one every replica sees. */
  #pauseUntil = 0
  #told = { at: -Infinity, allowed: undefined as number | undefined }

  constructor (opts: BudgetOptions) {
    const settings = logSettings(opts.requests, opts.windowMs, opts.hears)
    this.#log = opts.log?.(settings) ?? new MemoryBudgetLog(settings)
    this.#requests = opts.requests
    this.#windowMs = opts.windowMs
    this.#limit = opts.requests
    this.#clock = opts.clock ?? Date.now
    this.#onWait = opts.onWait ?? (() => {})
    this.#onRefuse = opts.onRefuse ?? (() => {})
    this.#tracing = opts.tracing
  }

  /** The limit in force: the configured one, or what Genesys said when it said less. */
  get limit (): number {
    return this.#limit
  }

  /** One request, sent at once (a read-back). */
  async take (priority: Priority, deadline: number): Promise<void> {
    await (await this.reserve(priority, deadline, 1)).send(deadline)
  }

  /**
   * `units` requests' worth, reserved together; rejects with RATE_BUDGET_EXHAUSTED when they
   * could not be had before `deadline`. A bulk caller's `ticket` lets it be moved up while it waits.
   */
  async reserve (priority: Priority, deadline: number, units: number, ticket?: Ticket): Promise<Reservation> {
    const rank = priority === 'live' ? 0 : 1
    let ahead = 0
    for (let i = 0; i <= rank; i++) for (const w of this.#queues[i]!) ahead += w.units
    const grant = await this.#ask(units, ahead, priority, deadline)
    if (grant.ids.length > 0) return this.#reservation(grant.ids)
    if (this.#clock() + grant.waitMs >= deadline) {
      this.#onRefuse(priority)
      throw rateBudgetExhausted(grant.waitMs)
    }
    this.#onWait(priority)
    const waiting = () => new Promise<string[]>((resolve, reject) => {
      const queue = this.#queues[rank]!
      const waiter: Waiter = {
        priority,
        units,
        deadline,
        waitMs: grant.waitMs,
        queue,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiter.queue.splice(waiter.queue.indexOf(waiter), 1)
          this.#onRefuse(waiter.priority)
          reject(rateBudgetExhausted(waiter.waitMs))
        }, deadline - this.#clock()),
      }
      queue.push(waiter)
      if (ticket !== undefined && priority === 'bulk') {
        ticket.promote = () => {
          const at = waiter.queue.indexOf(waiter)
          if (at === -1 || waiter.priority === 'live') return
          waiter.queue.splice(at, 1)
          waiter.priority = 'live'
          waiter.queue = this.#queues[0]
          waiter.queue.push(waiter)
          // Bulk pacing no longer holds it back: it may be served now.
          this.#schedule(0)
        }
      }
      this.#schedule(grant.waitMs)
    })
    const ids = await (this.#tracing === undefined ? waiting() : this.#tracing.wait('rate budget wait', { 'pdg.priority': priority }, waiting))
    return this.#reservation(ids)
  }

  /**
   * What Genesys's answer says about the budget (every exchange but the token's): that it
   * answered at all (a first answer ends the probe after an idle window), the limit it allows,
   * and after a 429, how long to pause.
   */
  observe (status: number, headers: IncomingHttpHeaders): void {
    const now = this.#clock()
    const allowed = headerNumber(headers, 'inin-ratelimit-allowed')
    if (allowed !== undefined) this.#limit = Math.min(this.#requests, allowed)
    let pauseUntil: number | undefined
    if (status === 429) {
      pauseUntil = now + 1000 * retryAfter(headers)
      this.#pauseUntil = Math.max(this.#pauseUntil, pauseUntil)
    }
    // Told to the shared log when it is news; otherwise a few times a window, to keep it current.
    if (pauseUntil === undefined && allowed === this.#told.allowed && now - this.#told.at < this.#windowMs / 4) return
    this.#told = { at: now, allowed }
    this.#log.heard({ now, allowed, pauseUntil }).then(() => this.#schedule(0), () => {})
  }

  /**
   * The service is closing: whoever still waits for units is answered now, rather than keeping
   * the process alive until its deadline (an asynchronous delivery's is a minute away).
   */
  close (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const w of this.#queues.flatMap((q) => q.splice(0))) {
      clearTimeout(w.timer)
      w.reject(new ApiError('SHUTTING_DOWN', 'the service is shutting down and the update was not sent; send it again', { retryAfter: 1 }))
    }
  }

  #reservation (ids: string[]): Reservation {
    const reservedAt = this.#clock()
    return {
      send: async (deadline) => {
        let now = this.#clock()
        if (this.#pauseUntil > now) {
          if (this.#pauseUntil >= deadline) throw rateBudgetExhausted(this.#pauseUntil - now)
          await sleep(this.#pauseUntil - now)
          now = this.#clock()
        }
        const id = ids.shift()
        // Sent later than reserved (a PATCH after its read): Genesys counts it from now.
        if (id !== undefined && now > reservedAt) this.#log.stamp([id], now).catch(() => {})
      },
      release: () => {
        if (ids.length > 0) this.#log.release(ids.splice(0)).catch(() => {})
      },
    }
  }

  async #ask (units: number, ahead: number, priority: Priority, deadline: number): Promise<Grant> {
    try {
      const grant = await this.#log.reserve({ now: this.#clock(), units, ahead, live: priority === 'live', deadline })
      this.#limit = grant.limit
      return grant
    } catch (err) {
      throw coordinationUnavailable(err)
    }
  }

  #schedule (ms: number): void {
    const at = this.#clock() + ms
    if (this.#timer !== undefined && this.#timerAt <= at) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(() => { void this.#pump() }, ms)
  }

  /** Hands freed units to the waiting callers: live first, then in arrival order. */
  async #pump (): Promise<void> {
    this.#timer = undefined
    this.#timerAt = Infinity
    if (this.#pumping) return
    this.#pumping = true
    try {
      for (;;) {
        const head = this.#queues.find((q) => q.length > 0)?.[0]
        if (head === undefined) return
        let grant: Grant
        try {
          grant = await this.#ask(head.units, 0, head.priority, head.deadline)
        } catch (err) {
          // The shared log is unreachable: nobody waiting can be served; they hear why now.
          for (const w of this.#queues.flatMap((q) => q.splice(0))) {
            clearTimeout(w.timer)
            w.reject(err as ApiError)
          }
          return
        }
        const at = head.queue.indexOf(head)
        if (grant.ids.length === 0) {
          head.waitMs = grant.waitMs
          if (at === -1) continue
          // The budget shrank while it waited (Genesys said less, or paused us): told now, with
          // when budget returns, rather than at its deadline, as it would have been on arrival.
          if (this.#clock() + grant.waitMs >= head.deadline) {
            head.queue.splice(at, 1)
            clearTimeout(head.timer)
            this.#onRefuse(head.priority)
            head.reject(rateBudgetExhausted(grant.waitMs))
            continue
          }
          return this.#schedule(grant.waitMs)
        }
        // The head timed out (or moved up) while we asked: its units go back.
        if (at === -1) {
          this.#log.release(grant.ids).catch(() => {})
          continue
        }
        head.queue.splice(at, 1)
        clearTimeout(head.timer)
        head.resolve(grant.ids)
      }
    } finally {
      this.#pumping = false
    }
  }
}
