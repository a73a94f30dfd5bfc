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
  /** When the caller gives up: a live caller that will wait claims the budget from bulk until then. */
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

/**
 * The decision both logs make, over the log's times (oldest first, within the window) and the
 * state. A unit sent at t counts in [t, t + window): the same rule as the simulator's.
 */
export function decide (
  s: LogSettings,
  ask: Ask,
  times: number[],
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
  const probed = state.heardAt <= now - s.windowMs && times.filter((t) => t > now - s.probeMs).length + units > Math.max(s.probe, units)
  const count = times.length
  if (state.pauseUntil > now) return { grant: false, waitMs: state.pauseUntil - now, limit }
  const blocked = !live && state.liveUntil > now
  const tenth = s.windowMs / 10
  const recent = live ? 0 : times.filter((t) => t > now - tenth).length
  const pace = Math.max(units, tenthOf)
  const paced = !live && recent + units > pace
  if (ahead === 0 && !blocked && !paced && !probed && count + units <= cap) return { grant: true, waitMs: 0, limit }
  // The units that must leave the window before these fit: the need-th oldest entry's expiry.
  const need = count + ahead + units - cap
  let waitMs = need <= 0 ? 1 : need <= count ? times[need - 1]! + s.windowMs - now : s.windowMs * Math.ceil((need - count) / Math.max(cap, 1) + 1)
  if (probed) waitMs = Math.max(waitMs, PROBE_POLL_MS)
  if (paced) waitMs = Math.max(waitMs, times[count - recent + Math.max(0, recent + units - pace) - 1]! + tenth - now)
  if (blocked) waitMs = Math.max(waitMs, state.liveUntil - now)
  return { grant: false, waitMs: Math.max(1, waitMs), limit }
}

/** This process's own, for a single replica. */
export class MemoryBudgetLog implements BudgetLog {
  readonly #s: LogSettings
  /** [time, id], oldest first. */
  #log: Array<[number, string]> = []
  #seq = 0
  #state = { pauseUntil: 0, limit: undefined as number | undefined, limitAt: 0, heardAt: 0, liveUntil: 0 }

  constructor (settings: LogSettings) {
    this.#s = settings
  }

  async reserve (ask: Ask): Promise<Grant> {
    this.#log = this.#log.filter(([t]) => t > ask.now - this.#s.windowMs)
    const d = decide(this.#s, ask, this.#log.map(([t]) => t), this.#state)
    if (!d.grant) {
      if (ask.live && ask.now + d.waitMs < ask.deadline) this.#state.liveUntil = Math.max(this.#state.liveUntil, ask.now + d.waitMs)
      return { ids: [], waitMs: d.waitMs, limit: d.limit }
    }
    const ids = Array.from({ length: ask.units }, () => String(++this.#seq))
    for (const id of ids) this.#log.push([ask.now, id])
    return { ids, waitMs: 0, limit: d.limit }
  }

  async stamp (ids: string[], now: number): Promise<void> {
    const set = new Set(ids)
    const moved = this.#log.filter(([, id]) => set.has(id)).map(([, id]): [number, string] => [now, id])
    this.#log = [...this.#log.filter(([, id]) => !set.has(id)), ...moved].sort((a, b) => a[0] - b[0])
  }

  async release (ids: string[]): Promise<void> {
    const set = new Set(ids)
    this.#log = this.#log.filter(([, id]) => !set.has(id))
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
