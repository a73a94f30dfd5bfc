/**
 * The request budget's shared record: a sliding log of the times requests were sent, plus what
 * Genesys told us (a pause after a 429, the limit its headers state, when it last answered) and
 * whether a live caller is waiting. The memory log here and the Redis one (budget-redis.ts) make
 * the same decisions; test/updates/budget-log.test.ts runs both through the same cases.
 */

export interface LogSettings {
  /** The configured budget: requests in any window-long interval, never exceeded. */
  requests: number
  windowMs: number
  /** Units allowed before any answer has been heard for a window: the first answer may say less. */
  probe: number
  /** How long a probe's answer is awaited before another may go (its replica may have died). */
  probeMs: number
  /** How long a limit learned from Genesys's headers holds without being said again. */
  learnedMs: number
}

export interface Ask {
  now: number
  /** Units wanted at once: a write's whole cost. */
  units: number
  /** Units wanted by callers queued ahead on this replica: granted only when none are. */
  ahead: number
  live: boolean
  /** When the caller gives up: a live caller that can wait within it holds bulk back until its units free up. */
  deadline: number
}

export interface Grant {
  /** Ids of the units taken (so they can be stamped when sent, or given back); empty when refused. */
  ids: string[]
  /** When refused, ms until the units could be free (an estimate beyond the log's own entries). */
  waitMs: number
  /** The limit in force: the configured one, or less when Genesys said less. */
  limit: number
}

export interface Heard {
  now: number
  /** inin-ratelimit-allowed, when the answer carried it. */
  allowed?: number | undefined
  /** A 429: no request on this token until then. */
  pauseUntil?: number | undefined
}

export interface BudgetLog {
  reserve(ask: Ask): Promise<Grant>
  /** Re-dates units to the moment they are sent: Genesys counts them from then. */
  stamp(ids: string[], now: number): Promise<void>
  /** Gives back units that were never sent. */
  release(ids: string[]): Promise<void>
  heard(h: Heard): Promise<void>
}

/** A short poll while the first answer after an idle window is awaited (it may lower the limit). */
export const PROBE_POLL_MS = 20

/** The log's entries within the window, oldest first: what decide() reads of them. */
export interface Times {
  count: number
  /** The time of the i-th oldest entry (from 0). */
  nth(i: number): number
  /** How many entries are later than `t`. */
  after(t: number): number
}

/**
 * The decision both logs make, over the log's times and the state. A unit sent at t counts in
 * [t, t + window): the same rule as the simulator's.
 */
export function decide (
  s: LogSettings,
  ask: Ask,
  times: Times,
  state: { pauseUntil: number; limit: number | undefined; limitAt: number; heardAt: number; liveUntil: number }
): { grant: boolean; waitMs: number; limit: number } {
  const { now, units, ahead, live } = ask
  const limit = state.limit !== undefined && state.limitAt > now - s.learnedMs ? Math.min(s.requests, state.limit) : s.requests
  // Bulk callers leave a tenth of the window unused, and take at most a tenth of the limit in any
  // tenth of the window: bulk is paced, so a burst of it cannot hold the whole window against
  // flows, while a flow's burst gets everything at once.
  const tenthOf = Math.max(1, Math.floor(limit / 10))
  const cap = live ? limit : limit - tenthOf
  // Nothing heard from Genesys for a window: a probe's worth goes, and the rest await its answer.
  const probed = state.heardAt <= now - s.windowMs && times.after(now - s.probeMs) + units > Math.max(s.probe, units)
  const { count } = times
  if (state.pauseUntil > now) return { grant: false, waitMs: state.pauseUntil - now, limit }
  const blocked = !live && state.liveUntil > now
  const tenth = s.windowMs / 10
  const recent = live ? 0 : times.after(now - tenth)
  const pace = Math.max(units, tenthOf)
  const paced = !live && recent + units > pace
  if (ahead === 0 && !blocked && !paced && !probed && count + units <= cap) return { grant: true, waitMs: 0, limit }
  // The units that must leave the window before these fit: the need-th oldest entry's expiry.
  const need = count + ahead + units - cap
  let waitMs = need <= 0 ? 1 : need <= count ? times.nth(need - 1) + s.windowMs - now : s.windowMs * Math.ceil((need - count) / Math.max(cap, 1) + 1)
  if (probed) waitMs = Math.max(waitMs, PROBE_POLL_MS)
  if (paced) waitMs = Math.max(waitMs, times.nth(count - recent + Math.max(0, recent + units - pace) - 1) + tenth - now)
  if (blocked) waitMs = Math.max(waitMs, state.liveUntil - now)
  return { grant: false, waitMs: Math.max(1, waitMs), limit }
}

/**
 * This process's own, for a single replica. Entries are kept sorted by time in two parallel
 * arrays from `#start`: at a budget of thousands a minute, every decision is a few binary searches.
 */
export class MemoryBudgetLog implements BudgetLog {
  readonly #s: LogSettings
  #times: number[] = []
  #ids: number[] = []
  /** Entries before it have left the window. */
  #start = 0
  #seq = 0
  #state = { pauseUntil: 0, limit: undefined as number | undefined, limitAt: 0, heardAt: 0, liveUntil: 0 }

  constructor (settings: LogSettings) {
    this.#s = settings
  }

  /** The first index (from #start) whose time is greater than `t`. */
  #firstAfter (t: number): number {
    let lo = this.#start
    let hi = this.#times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#times[mid]! > t) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  #expire (now: number): void {
    this.#start = this.#firstAfter(now - this.#s.windowMs)
    if (this.#start > 1024 && this.#start * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#start)
      this.#ids = this.#ids.slice(this.#start)
      this.#start = 0
    }
  }

  #insert (time: number, id: number): void {
    const at = this.#firstAfter(time)
    this.#times.splice(at, 0, time)
    this.#ids.splice(at, 0, id)
  }

  /** Removes an entry by id; it is most likely among the newest. */
  #remove (id: number): boolean {
    const at = this.#ids.lastIndexOf(id)
    if (at < this.#start) return false
    this.#times.splice(at, 1)
    this.#ids.splice(at, 1)
    return true
  }

  async reserve (ask: Ask): Promise<Grant> {
    this.#expire(ask.now)
    const start = this.#start
    const times: Times = {
      count: this.#times.length - start,
      nth: (i) => this.#times[start + i]!,
      after: (t) => this.#times.length - this.#firstAfter(t),
    }
    const d = decide(this.#s, ask, times, this.#state)
    if (!d.grant) {
      if (ask.live && ask.now + d.waitMs < ask.deadline) this.#state.liveUntil = Math.max(this.#state.liveUntil, ask.now + d.waitMs)
      return { ids: [], waitMs: d.waitMs, limit: d.limit }
    }
    const ids: string[] = []
    for (let i = 0; i < ask.units; i++) {
      this.#insert(ask.now, ++this.#seq)
      ids.push(String(this.#seq))
    }
    return { ids, waitMs: 0, limit: d.limit }
  }

  async stamp (ids: string[], now: number): Promise<void> {
    for (const id of ids) if (this.#remove(Number(id))) this.#insert(now, Number(id))
  }

  async release (ids: string[]): Promise<void> {
    for (const id of ids) this.#remove(Number(id))
  }

  async heard ({ now, allowed, pauseUntil }: Heard): Promise<void> {
    this.#state.heardAt = Math.max(this.#state.heardAt, now)
    if (allowed !== undefined) {
      this.#state.limit = allowed
      this.#state.limitAt = now
    }
    if (pauseUntil !== undefined) this.#state.pauseUntil = Math.max(this.#state.pauseUntil, pauseUntil)
  }
}
