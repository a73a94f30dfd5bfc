import { performance } from 'node:perf_hooks'

/** How busy this process's event loop was since the last call: from 0 (idle) to 1. */
export function loopUtilization (): () => number {
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
  /** The event loop's utilization since the last call; loopUtilization() unless a test says. */
  utilization?: () => number
  clock?: () => number
}

/** A window in which the event loop was busier than this had no time to spare. */
const BUSY = 0.8
const WINDOW_MS = 100

/**
 * Delivery is bulk work and yields to requests: how many attempts run at once follows how busy
 * the event loop is, the way TCP paces itself (additive increase, multiplicative decrease). A
 * window of 100 ms in which the loop was over 80% busy halves the limit, down to one; any other
 * raises it by one, up to `max` (from one, that takes `max` tenths of a second). An idle replica starts an attempt at once whatever the limit. A
 * busy one lets updates wait, and a conversation's waiting updates go out in one write when their
 * turn comes: it keeps up with its intake in fewer upstream requests instead of competing with it.
 */
export class Pacer {
  readonly #max: number
  readonly #utilization: () => number
  readonly #clock: () => number
  #limit: number
  #running = 0
  readonly #waiting: Array<(go: boolean) => void> = []
  #windowStart: number
  #closed = false
  /** While attempts wait, the limit is looked at each window even if no attempt starts or ends. */
  #timer: NodeJS.Timeout | undefined

  constructor (opts: PacerOptions) {
    this.#max = opts.max
    this.#limit = opts.max
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
   * Runs `attempt` when its turn comes, first come first served; once the pacer is closed, those
   * that have not started never do, and get `closed` instead.
   */
  async run<T> (attempt: () => Promise<T>, closed: T): Promise<T> {
    this.#adjust()
    if (this.#closed) return closed
    if (this.#running < this.#limit && this.#waiting.length === 0) this.#running++
    else if (!(await this.#turn())) return closed
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

  /** Resolves true when it is this attempt's turn, false if the pacer closes first. */
  #turn (): Promise<boolean> {
    const tick = () => {
      this.#timer = undefined
      this.#adjust()
      if (this.#waiting.length > 0) this.#timer = setTimeout(tick, WINDOW_MS).unref()
    }
    this.#timer ??= setTimeout(tick, WINDOW_MS).unref()
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  /** Once a window or more has passed: utilization is read for all of them at once, as if it was the same in each. */
  #adjust (): void {
    const now = this.#clock()
    const windows = Math.floor((now - this.#windowStart) / WINDOW_MS)
    if (windows === 0) return
    this.#windowStart = now
    this.#limit = this.#utilization() > BUSY ? Math.max(1, Math.floor(this.#limit / 2 ** windows)) : Math.min(this.#max, this.#limit + windows)
    this.#wake()
  }

  #wake (): void {
    while (this.#waiting.length > 0 && this.#running < this.#limit) {
      this.#running++
      this.#waiting.shift()!(true)
    }
  }
}
