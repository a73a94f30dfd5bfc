import type { IncomingHttpHeaders } from 'node:http'
import { systemClock, type Clock } from '../clock.ts'
import { ApiError, coordinationUnavailable, rateBudgetExhausted } from '../errors.ts'
import { retryAfter, UpstreamError } from '../genesys/index.ts'
import { WaitingLine, type Ticket } from './budget-line.ts'
import { MemoryBudgetLog, type BudgetLog, type Grant, type LogSettings, type Standing } from '../coordination/index.ts'
import type { PipelineTracing } from './tracing.ts'
import type { Priority } from '../domain.ts'

export interface BudgetOptions {
  /** Upstream requests allowed in any window of `windowMs`: the most the budget ever spends. */
  requests: number
  windowMs: number
  /** Builds the shared log; in memory unless another (Redis) is passed. */
  log?: (settings: LogSettings) => BudgetLog
  clock?: Clock
  /** Told when a caller has to wait, and when one is refused. */
  onWait?: (priority: Priority) => void
  onRefuse?: (priority: Priority) => void
  /** A span for each wait; absent when tracing is off. */
  tracing?: PipelineTracing | undefined
  /**
   * What every request needs before it can go out (a token, at start-up or once it expired),
   * awaited before its unit is dated: "sent" means sent, not "sent after a token fetch".
   */
  prepare?: () => Promise<unknown> | undefined
}

/** Units taken for one write (its read and its PATCH), spent one request at a time. */
export interface Reservation {
  /**
   * Waits out a pause Genesys asked for (a 429's Retry-After, heard by any replica) when the
   * deadline allows, else rejects RATE_BUDGET_EXHAUSTED. Dates nothing: for a write that has
   * more to do (build its PATCH) before it sends.
   */
  ready(deadline: number): Promise<void>
  /**
   * Sends one request on the next unit: waits out Genesys's pause as ready() does, dates the unit
   * to now (Genesys counts a request from when it is sent, not from when its units were taken),
   * then makes `request`. Its answer, when Genesys gave one but a 429, is proof of what it allows.
   */
  send<T>(deadline: number, request: () => Promise<T>): Promise<T>
  /** Gives back the units that were not sent (the read found the conversation ended, say). */
  release(): void
}

/** A limit learned from a 429 holds this many windows, then climbs a step each window. */
export const LEARNED_HOLD_WINDOWS = 5

/** The log's settings for a budget of `requests` per `windowMs`. */
export function logSettings (requests: number, windowMs: number): LogSettings {
  // Genesys counts a request from when it arrives, a little after we date it here (the event
  // loop, the network, a replica's stamp reaching Redis): each unit counts a little longer here
  // than there (1 s of a minute; at least 200 ms for the short windows of tests), so no window of
  // Genesys's sees more.
  const margin = Math.min(1000, Math.max(200, Math.ceil(windowMs / 20)))
  return {
    requests,
    windowMs: windowMs + margin,
    evidenceMs: windowMs,
    holdMs: LEARNED_HOLD_WINDOWS * windowMs,
    stepMs: windowMs,
    // One merge write (a read and its PATCH) still goes in each window: it is how the budget
    // finds out that Genesys allows more again.
    floor: Math.min(requests, 2),
  }
}

/**
 * The upstream request budget, shared by every request to Genesys (invariant 11, docs/architecture.md): at most the
 * limit in any window-long interval, counted in a sliding log (exact, unlike fixed-window
 * counters), so after an idle window the whole limit is there for a burst.
 *
 * - A write reserves its whole cost (read and PATCH) at once before its first request, so no read
 *   is made for a write the budget would then refuse. Each unit is dated when its request is
 *   sent; units never sent go back.
 * - A caller who cannot be served before its deadline is refused at once, with Retry-After set to
 *   when the units free up; one who can waits, live callers before bulk ones. A live caller that
 *   waits holds bulk back, on every replica, until it is served.
 * - Genesys's word wins, and a 429 is its only word (it sends no rate headers): every request on
 *   every replica, reserved or already holding units, waits until its Retry-After, and the limit
 *   becomes what Genesys is proven to have allowed in its trailing window: the requests sent
 *   there that it has answered. A request on its way, or one that got no answer at all, proves
 *   nothing. That limit holds LEARNED_HOLD_WINDOWS windows, then climbs back (budget-log.ts),
 *   never above the configured one.
 */
export class RateBudget {
  readonly #log: BudgetLog
  /** The logs' own settings: setLimit changes them in place, and both logs read them on every call. */
  readonly #settings: LogSettings
  readonly #windowMs: number
  #requests: number
  readonly #clock: Clock
  readonly #onWait: (priority: Priority) => void
  readonly #onRefuse: (priority: Priority) => void
  readonly #tracing: PipelineTracing | undefined
  readonly #prepare: (() => Promise<unknown> | undefined) | undefined
  /** The callers waiting for units, on this replica. */
  readonly #line: WaitingLine
  #limit: number
  /** A 429's Retry-After, as this replica knows it; the log holds the one every replica sees. */
  #pauseUntil = 0

  constructor (opts: BudgetOptions) {
    const settings = logSettings(opts.requests, opts.windowMs)
    this.#log = opts.log?.(settings) ?? new MemoryBudgetLog(settings)
    this.#settings = settings
    this.#windowMs = opts.windowMs
    this.#requests = opts.requests
    this.#limit = opts.requests
    this.#clock = opts.clock ?? systemClock
    this.#onWait = opts.onWait ?? (() => {})
    this.#onRefuse = opts.onRefuse ?? (() => {})
    this.#tracing = opts.tracing
    this.#prepare = opts.prepare
    this.#line = new WaitingLine({
      clock: this.#clock,
      ask: (units, priority, deadline) => this.#ask(units, 0, priority, deadline),
      release: (ids) => { this.#log.release(ids).catch(() => {}) },
      onRefuse: this.#onRefuse,
    })
  }

  /** The limit in force when a caller last asked: the configured one, or one learned from a 429. */
  get limit (): number {
    return this.#limit
  }

  /** The limit it spends by at most in a window: the configured one, or the org's (setLimit). */
  get configured (): number {
    return this.#requests
  }

  /**
   * From now on, at most `requests` a window: the org's own limit, read from the Limits API under
   * any configured ceiling. A limit learned from a 429 still wins while it holds.
   */
  setLimit (requests: number): void {
    Object.assign(this.#settings, logSettings(requests, this.#windowMs))
    this.#requests = requests
    this.#limit = Math.min(this.#limit, requests)
    this.standing().then(() => this.#line.schedule(0), () => {})
  }

  /** Where the budget stands now, on every replica: the limit in force, whether it was learned, the pause. */
  async standing (): Promise<Standing> {
    const s = await this.#log.standing(this.#clock.now())
    this.#limit = s.limit
    return s
  }

  /** One request, on a unit of its own (a read-back). */
  async take<T> (priority: Priority, deadline: number, request: () => Promise<T>): Promise<T> {
    const reservation = await this.reserve(priority, deadline, 1)
    try {
      return await reservation.send(deadline, request)
    } finally {
      reservation.release()
    }
  }

  /**
   * `units` requests' worth, reserved together; rejects with RATE_BUDGET_EXHAUSTED when they
   * could not be had before `deadline`. A bulk caller's `ticket` lets it be moved up while it waits.
   */
  async reserve (priority: Priority, deadline: number, units: number, ticket?: Ticket): Promise<Reservation> {
    const grant = await this.#ask(units, this.#line.ahead(priority), priority, deadline)
    if (grant.ids.length > 0) return this.#reservation(grant.ids)
    if (this.#clock.now() + grant.waitMs >= deadline) {
      this.#onRefuse(priority)
      throw rateBudgetExhausted(grant.waitMs)
    }
    this.#onWait(priority)
    const waiting = () => this.#line.wait(priority, units, deadline, grant.waitMs, ticket)
    const ids = await (this.#tracing === undefined ? waiting() : this.#tracing.wait('rate budget wait', { 'pdg.priority': priority }, waiting))
    return this.#reservation(ids)
  }

  /**
   * What an exchange with Genesys (every one but the token's) says about the budget: only a 429
   * speaks (Genesys sends no rate headers). It pauses every replica until its Retry-After, and
   * the limit is learned from what its window proves (budget-log.ts).
   */
  observe (status: number, headers: IncomingHttpHeaders): void {
    if (status !== 429) return
    const now = this.#clock.now()
    const retryAfterMs = 1000 * retryAfter(headers)
    this.#pauseUntil = Math.max(this.#pauseUntil, now + retryAfterMs)
    // Waiting callers are asked again: those whose deadline the pause passes are refused now.
    this.#log.refused(now, retryAfterMs).then(() => this.#line.schedule(0), () => {})
  }

  /**
   * The service is closing: whoever still waits for units is answered now, rather than keeping
   * the process alive until its deadline (an asynchronous delivery's is a minute away).
   */
  close (): void {
    this.#line.close(new ApiError('SHUTTING_DOWN', 'the service is shutting down and the update was not sent; send it again', { retryAfter: 1 }))
  }

  #reservation (ids: string[]): Reservation {
    return {
      ready: async (deadline) => {
        for (;;) {
          const now = this.#clock.now()
          const wait = this.#pauseUntil > now ? this.#pauseUntil - now : await this.#shared(() => this.#log.paused(now), now)
          if (wait <= 0) return
          await this.#waitOut(wait, deadline)
        }
      },
      send: async (deadline, request) => {
        const id = ids[0]
        if (id === undefined) throw new Error('a reservation sends no more requests than it reserved units')
        const preparing = this.#prepare?.()
        if (preparing !== undefined) await preparing
        for (;;) {
          const now = this.#clock.now()
          // The shared log is asked even when this replica knows of no pause: another may have heard a 429.
          let wait = this.#pauseUntil > now ? this.#pauseUntil - now : await this.#shared(() => this.#log.send(id, now), now)
          // This replica heard a 429 while the log was asked: the unit stays here, unsent, for now.
          if (wait <= 0 && this.#pauseUntil > this.#clock.now()) wait = this.#pauseUntil - this.#clock.now()
          if (wait <= 0) break
          await this.#waitOut(wait, deadline)
        }
        ids.shift()
        const answered = () => { this.#log.answered(id, this.#clock.now()).catch(() => {}) }
        try {
          const answer = await request()
          answered()
          return answer
        } catch (err) {
          if (err instanceof UpstreamError && counted(err.status)) answered()
          throw err
        }
      },
      release: () => {
        if (ids.length > 0) this.#log.release(ids.splice(0)).catch(() => {})
      },
    }
  }

  /** Asks the shared log how long Genesys's pause has left; a pause another replica heard is then known here too. */
  async #shared (ask: () => Promise<number>, now: number): Promise<number> {
    let wait: number
    try {
      wait = await ask()
    } catch (err) {
      throw coordinationUnavailable(err)
    }
    if (wait > 0) this.#pauseUntil = Math.max(this.#pauseUntil, now + wait)
    return wait
  }

  /** Sleeps out a pause that ends before `deadline`; rejects RATE_BUDGET_EXHAUSTED when it does not. */
  async #waitOut (wait: number, deadline: number): Promise<void> {
    if (this.#clock.now() + wait >= deadline) throw rateBudgetExhausted(wait)
    await this.#clock.sleep(wait)
  }

  async #ask (units: number, ahead: number, priority: Priority, deadline: number): Promise<Grant> {
    try {
      const now = this.#clock.now()
      const grant = await this.#log.reserve({ now, units, ahead, live: priority === 'live', withinMs: deadline - now })
      this.#limit = grant.limit
      return grant
    } catch (err) {
      throw coordinationUnavailable(err)
    }
  }
}

/**
 * Whether an answer shows the request reached Genesys's API, where its rate limit counts it: a
 * 4xx of its own, not a 429 (refused), nor a 401 (stopped before the token was taken), nor a 5xx
 * (which a layer in front of the API may give). In doubt it is not counted: the limit learned
 * may then fall short of Genesys's, never go past it.
 */
const counted = (status: number | undefined) => status !== undefined && status < 500 && status !== 401 && status !== 429
