import { performance } from 'node:perf_hooks'

/** How busy this process's event loop was since the last call: from 0 (idle) to 1. */
function loopUtilization (): () => number {
  let last = performance.eventLoopUtilization()
  return () => {
    const now = performance.eventLoopUtilization()
    const { utilization } = performance.eventLoopUtilization(now, last)
    last = now
    return utilization
  }
}

export interface PacerOptions {
  /** Attempts at once while the replica has time to spare. */
  max: number
  /**
   * Turn away attempts beyond its capacity (those running and waiting together) instead of
   * letting them wait: where a queue shared with other replicas hands out the attempts, one that
   * is turned away goes back to it, for a replica with time to spare.
   */
  shed?: boolean
  /** The event loop's utilization since the last call; loopUtilization() unless a test says. */
  utilization?: () => number
  clock?: () => number
}

/** A window in which the event loop was busier than this had no time to spare. */
const BUSY = 0.8
const WINDOW_MS = 100

/**
 * Delivery is bulk work and yields to requests: how many attempts run at once follows how busy
 * the event loop is, the way TCP paces itself (additive increase, multiplicative decrease). When
 * the loop was over 80% busy since the limit was last looked at (every 100 ms or more), the limit
 * halves, down to one; else it rises by one for each 100 ms, up to `max` (from one, that takes
 * `max` tenths of a second). The limit is never below one, so an idle replica starts an attempt
 * at once. A busy one lets updates wait, and a conversation's waiting updates go out in one write
 * when their turn comes: fewer upstream requests than updates, when updates share conversations.
 */
export class Pacer {
  readonly #max: number
  readonly #shed: boolean
  readonly #utilization: () => number
  readonly #clock: () => number
  #limit: number
  #running = 0
  /** Resolved true when it is their turn; false when they are turned away or the pacer closes. */
  readonly #waiting: Array<(go: boolean) => void> = []
  #windowStart: number
  #closed = false
  /** While attempts wait, the limit is looked at each window even if no attempt starts or ends. */
  #timer: NodeJS.Timeout | undefined

  constructor (opts: PacerOptions) {
    if (!(opts.max >= 1)) throw new RangeError(`a pacer needs a maximum of one attempt or more, not ${opts.max}`)
    this.#max = opts.max
    this.#limit = opts.max
    this.#shed = opts.shed ?? false
    this.#utilization = opts.utilization ?? loopUtilization()
    this.#clock = opts.clock ?? performance.now.bind(performance)
    this.#windowStart = this.#clock()
  }

  /** Attempts this replica starts at once now. */
  get limit (): number {
    this.#adjust()
    return this.#limit
  }

  /**
   * Attempts it holds at once, running and waiting, when it sheds: twice the limit (so that one
   * held up by the budget or a lock does not hold up the others), never more than `max`.
   */
  get capacity (): number {
    this.#adjust()
    return this.#capacity()
  }

  /**
   * Runs `attempt` when its turn comes, first come first served. One that does not start (turned
   * away, or the pacer closed before its turn) gets `instead`.
   */
  async run<T> (attempt: () => Promise<T>, instead: T): Promise<T> {
    this.#adjust()
    if (this.#closed) return instead
    if (this.#running < this.#limit && this.#waiting.length === 0) this.#running++
    else if (this.#shed && this.#running + this.#waiting.length >= this.#capacity()) return instead
    else if (!(await this.#turn())) return instead
    try {
      return await attempt()
    } finally {
      this.#running--
      this.#adjust()
      this.#wake()
    }
  }

  /** Shutdown: no attempt starts from now on. */
  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    for (const turn of this.#waiting.splice(0)) turn(false)
  }

  #turn (): Promise<boolean> {
    const tick = () => {
      this.#timer = undefined
      this.#adjust()
      if (this.#waiting.length > 0) this.#timer = setTimeout(tick, WINDOW_MS).unref()
    }
    this.#timer ??= setTimeout(tick, WINDOW_MS).unref()
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  #adjust (): void {
    const windows = Math.floor((this.#clock() - this.#windowStart) / WINDOW_MS)
    if (windows === 0) return
    this.#windowStart += windows * WINDOW_MS
    // One long stall (a collection, start-up) halves it once, not once per window it spanned.
    this.#limit = this.#utilization() > BUSY ? Math.max(1, Math.floor(this.#limit / 2)) : Math.min(this.#max, this.#limit + windows)
    // The latest to come are the first turned away: the others keep their place.
    while (this.#shed && this.#waiting.length > 0 && this.#running + this.#waiting.length > this.#capacity()) this.#waiting.pop()!(false)
    this.#wake()
  }

  #capacity (): number {
    return Math.min(this.#max, 2 * this.#limit)
  }

  #wake (): void {
    while (this.#waiting.length > 0 && this.#running < this.#limit) {
      this.#running++
      this.#waiting.shift()!(true)
    }
  }
}
