/**
 * The request budget's shared record: a sliding log of the units taken (held for a request not
 * yet sent, or sent), the requests Genesys answered (anything but a 429), the limit learned from
 * the last 429 and its pause, and whether a live caller is waiting. The memory log here and the
 * Redis one (budget-log-redis.ts) make the same decisions; test/coordination/budget-log.test.ts runs both
 * through the same cases.
 *
 * Genesys says nothing of a token's budget until it refuses (no rate headers: it retired them
 * in 2021). A 429 says: wait `Retry-After`, and Genesys's window is full. What it allows is
 * learned from proof, never from what was merely sent: the requests sent within the last window
 * that are already answered reached Genesys within that window, so it allowed at least that many
 * and at most its limit. A request still on its way when the 429 came may be allowed later, once
 * Genesys's window has moved on, and one that never arrived is no evidence at all: neither counts
 * until its answer is in. Each 429 learns afresh from what its window proves (so a limit that
 * fell is learned too), and each answer that comes in within that window raises it to what the
 * window now proves, never past what one window held.
 * That limit holds for `holdMs`; then it climbs a step (a tenth of itself, at least 1) each
 * `stepMs`, back to the configured one and never above it. A climb that overshoots draws one
 * more 429, which learns it afresh.
 */

export interface LogSettings {
  /** The configured budget: requests in any window-long interval, never exceeded. */
  requests: number
  /** How long a unit counts here: Genesys's window and a margin (see logSettings in src/updates/budget.ts). */
  windowMs: number
  /** Genesys's own window: what was answered in the trailing one is what it allowed. */
  evidenceMs: number
  /** How long a limit learned from a 429 holds, unchanged. */
  holdMs: number
  /** Then, each this long, it climbs one step. */
  stepMs: number
  /** Never learned below this (one merge write's worth): a unit must go, to find out whether Genesys allows more again. */
  floor: number
}

export interface Ask {
  now: number
  /** Units wanted at once: a write's whole cost. */
  units: number
  /** Units wanted by callers queued ahead on this replica: granted only when none are. */
  ahead: number
  live: boolean
  /** Ms until the caller gives up: a live caller that can wait within it holds bulk back until its units free up. */
  withinMs: number
}

export interface Grant {
  /** Ids of the units taken (so they can be dated when sent, or given back); empty when refused. */
  ids: string[]
  /** When refused, ms until the units could be free (an estimate beyond the log's own entries). */
  waitMs: number
  /** The limit in force: the configured one, or the one learned from a 429. */
  limit: number
}

/** Where the budget stands, for /metrics and the doctor. */
export interface Standing {
  /** The limit in force. */
  limit: number
  /** The limit learned from the last 429 and how long ago that was; absent when none holds (never, or climbed back). */
  learned?: { limit: number; agoMs: number } | undefined
  /** Ms until Genesys's last Retry-After ends; 0 when not paused. */
  pausedMs: number
}

export interface BudgetLog {
  reserve(ask: Ask): Promise<Grant>
  /**
   * A unit goes out now: it counts from now (whether or not its entry is still in the log) and as
   * a request made. Unless Genesys's pause is on: then nothing is dated, and the ms it has left.
   */
  send(id: string, now: number): Promise<number>
  /** Ms left of Genesys's pause, on every replica; 0 when none. */
  paused(now: number): Promise<number>
  /** Gives back units that were never sent. */
  release(ids: string[]): Promise<void>
  /** Genesys answered the request a unit went out for, with anything but a 429: proof of what it allows. */
  answered(id: string, now: number): Promise<void>
  /** Genesys refused a request (a 429): every replica pauses for its Retry-After, and the limit is learned. */
  refused(now: number, retryAfterMs: number): Promise<void>
  standing(now: number): Promise<Standing>
}

/** The log's entries within the window, oldest first: what decide() reads of them. */
export interface Times {
  count: number
  /** The time of the i-th oldest entry (from 0). */
  nth(i: number): number
  /** How many entries are later than `t`. */
  after(t: number): number
}

/** The learned limit as it stands at `now`: held, then climbing a step per `stepMs`, up to the configured one. */
export function limitAt (s: LogSettings, now: number, learned: number | undefined, learnedAt: number): number {
  if (learned === undefined) return s.requests
  let limit = learned
  const since = now - learnedAt - s.holdMs
  if (since >= 0) {
    const steps = Math.floor(since / s.stepMs) + 1
    for (let i = 0; i < steps && limit < s.requests; i++) limit += Math.max(1, Math.floor(limit / 10))
  }
  return Math.min(s.requests, limit)
}

/**
 * The limit learned: what the last window proves (its requests already answered), or, for an
 * answer within the window of the 429 that taught `previous`, the larger of the two: both are proofs.
 */
export function learnedFrom (s: LogSettings, proven: number, previous: number | undefined): number {
  return Math.min(s.requests, Math.max(s.floor, proven, previous ?? 0))
}

/**
 * The decision both logs make, over the log's times and the state. A unit sent at t counts in
 * [t, t + window): the same rule as the simulator's.
 */
export function decide (
  s: LogSettings,
  ask: Ask,
  times: Times,
  state: { pauseUntil: number; learned: number | undefined; learnedAt: number; liveUntil: number }
): { grant: boolean; waitMs: number; limit: number } {
  const { now, units, ahead, live } = ask
  const limit = limitAt(s, now, state.learned, state.learnedAt)
  // Bulk callers leave a tenth of the window unused, and take at most a tenth of the limit in any
  // tenth of the window: bulk is paced, so a burst of it cannot hold the whole window against
  // flows, while a flow's burst gets everything at once.
  const tenthOf = Math.max(1, Math.floor(limit / 10))
  const cap = live ? limit : limit - tenthOf
  const { count } = times
  if (state.pauseUntil > now) return { grant: false, waitMs: state.pauseUntil - now, limit }
  const blocked = !live && state.liveUntil > now
  const tenth = s.windowMs / 10
  const recent = live ? 0 : times.after(now - tenth)
  const pace = Math.max(units, tenthOf)
  const paced = !live && recent + units > pace
  if (ahead === 0 && !blocked && !paced && count + units <= cap) return { grant: true, waitMs: 0, limit }
  // The units that must leave the window before these fit: the need-th oldest entry's expiry.
  const need = count + ahead + units - cap
  let waitMs = need <= 0 ? 1 : need <= count ? times.nth(need - 1) + s.windowMs - now : s.windowMs * Math.ceil((need - count) / Math.max(cap, 1) + 1)
  if (paced) waitMs = Math.max(waitMs, times.nth(count - recent + Math.max(0, recent + units - pace) - 1) + tenth - now)
  if (blocked) waitMs = Math.max(waitMs, state.liveUntil - now)
  return { grant: false, waitMs: Math.max(1, waitMs), limit }
}

/** Times kept sorted from `start`, with an id each: at thousands a minute, every question is a binary search. */
class SortedTimes {
  times: number[] = []
  ids: number[] = []
  /** Entries before it have left the window. */
  start = 0

  /** The first index (from start) whose time is greater than `t`. */
  firstAfter (t: number): number {
    let lo = this.start
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.times[mid]! > t) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Entries at `t` or earlier leave. */
  expire (t: number): void {
    this.start = this.firstAfter(t)
    if (this.start > 1024 && this.start * 2 > this.times.length) {
      this.times = this.times.slice(this.start)
      this.ids = this.ids.slice(this.start)
      this.start = 0
    }
  }

  get count (): number {
    return this.times.length - this.start
  }

  after (t: number): number {
    return this.times.length - this.firstAfter(t)
  }

  insert (time: number, id: number): void {
    const at = this.firstAfter(time)
    this.times.splice(at, 0, time)
    this.ids.splice(at, 0, id)
  }

  /** Whether the entry `id` is in at `time`: a binary search, then the few entries at that time. */
  has (time: number, id: number): boolean {
    for (let i = this.firstAfter(time) - 1; i >= this.start && this.times[i] === time; i--) if (this.ids[i] === id) return true
    return false
  }

  /** The time of an entry still in the window, by id (it is most likely among the newest). */
  timeOf (id: number): number | undefined {
    const at = this.ids.lastIndexOf(id)
    return at < this.start ? undefined : this.times[at]
  }

  /** Removes an entry by id. */
  remove (id: number): void {
    const at = this.ids.lastIndexOf(id)
    if (at < this.start) return
    this.times.splice(at, 1)
    this.ids.splice(at, 1)
  }
}

/** This process's own, for a single replica. */
export class MemoryBudgetLog implements BudgetLog {
  readonly #s: LogSettings
  /** Every unit taken: held until sent, then dated when it was sent. */
  readonly #units = new SortedTimes()
  /** The units whose requests Genesys answered, by when they were sent. */
  readonly #answered = new SortedTimes()
  #seq = 0
  #state = { pauseUntil: 0, learned: undefined as number | undefined, learnedAt: 0, liveUntil: 0 }

  constructor (settings: LogSettings) {
    this.#s = settings
  }

  #expire (now: number): void {
    for (const log of [this.#units, this.#answered]) log.expire(now - this.#s.windowMs)
  }

  async reserve (ask: Ask): Promise<Grant> {
    this.#expire(ask.now)
    const u = this.#units
    const times: Times = { count: u.count, nth: (i) => u.times[u.start + i]!, after: (t) => u.after(t) }
    const d = decide(this.#s, ask, times, this.#state)
    if (!d.grant) {
      if (ask.live && d.waitMs < ask.withinMs) this.#state.liveUntil = Math.max(this.#state.liveUntil, ask.now + d.waitMs)
      return { ids: [], waitMs: d.waitMs, limit: d.limit }
    }
    const ids: string[] = []
    for (let i = 0; i < ask.units; i++) {
      u.insert(ask.now, ++this.#seq)
      ids.push(String(this.#seq))
    }
    return { ids, waitMs: 0, limit: d.limit }
  }

  async send (id: string, now: number): Promise<number> {
    if (this.#state.pauseUntil > now) return this.#state.pauseUntil - now
    // An upsert: a unit held longer than the window has left the log, and counts again from now.
    this.#units.remove(Number(id))
    this.#units.insert(now, Number(id))
    return 0
  }

  async paused (now: number): Promise<number> {
    return Math.max(0, this.#state.pauseUntil - now)
  }

  async release (ids: string[]): Promise<void> {
    for (const id of ids) this.#units.remove(Number(id))
  }

  async answered (id: string, now: number): Promise<void> {
    const sentAt = this.#units.timeOf(Number(id))
    if (sentAt === undefined || this.#answered.has(sentAt, Number(id))) return
    this.#expire(now)
    this.#answered.insert(sentAt, Number(id))
    if (this.#learning(now)) this.#state.learned = learnedFrom(this.#s, this.#proven(now), this.#state.learned)
  }

  async refused (now: number, retryAfterMs: number): Promise<void> {
    this.#expire(now)
    this.#state.learned = learnedFrom(this.#s, this.#proven(now), undefined)
    this.#state.learnedAt = now
    this.#state.pauseUntil = Math.max(this.#state.pauseUntil, now + retryAfterMs)
  }

  /** Whether a 429 taught a limit within the last window: an answer now is proof of that window too. */
  #learning (now: number): boolean {
    return this.#state.learned !== undefined && this.#state.learnedAt > now - this.#s.evidenceMs
  }

  /** The requests sent within the last window that Genesys has answered: it allowed at least these. */
  #proven (now: number): number {
    return this.#answered.after(now - this.#s.evidenceMs)
  }

  async standing (now: number): Promise<Standing> {
    return standingOf(this.#s, now, this.#state.learned, this.#state.learnedAt, this.#state.pauseUntil)
  }
}

export function standingOf (s: LogSettings, now: number, learned: number | undefined, learnedAt: number, pauseUntil: number): Standing {
  const limit = limitAt(s, now, learned, learnedAt)
  return {
    limit,
    ...(learned !== undefined && limit < s.requests && { learned: { limit: learned, agoMs: now - learnedAt } }),
    pausedMs: Math.max(0, pauseUntil - now),
  }
}
