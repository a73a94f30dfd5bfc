import type { Clock, Timer } from '../clock.ts'
import { ApiError, rateBudgetExhausted } from '../errors.ts'
import type { Priority } from '../domain.ts'
import type { Grant } from '../coordination/index.ts'

/** Lets a caller waiting at bulk priority be moved up, when a live caller comes to depend on it. */
export interface Ticket {
  promote?: () => void
}

/** A caller in the line: the units it waits for, until its deadline. */
interface Place {
  priority: Priority
  units: number
  deadline: number
  /** Its last estimate of the wait, for the Retry-After it is refused with. */
  waitMs: number
  /** The queue it waits in (it changes when promoted). */
  queue: Place[]
  resolve: (ids: string[]) => void
  reject: (err: ApiError) => void
  timer: Timer
}

export interface LineOptions {
  clock: Clock
  /** Asks the budget's log for `units` now; rejects COORDINATION_UNAVAILABLE when it cannot be asked. */
  ask: (units: number, priority: Priority, deadline: number) => Promise<Grant>
  /** Gives back units granted to a caller who is no longer there. */
  release: (ids: string[]) => void
  onRefuse: (priority: Priority) => void
}

/**
 * The callers of one replica that wait for units: served live first, then bulk, each in arrival
 * order. The line is asked again when units may have freed up (`schedule`), and a caller whose
 * units cannot come before its deadline is refused at once, not at the deadline.
 */
export class WaitingLine {
  readonly #opts: LineOptions
  /** Live, then bulk. */
  readonly #queues: [Place[], Place[]] = [[], []]
  #timer: Timer | undefined
  #timerAt = Infinity
  #serving = false

  constructor (opts: LineOptions) {
    this.#opts = opts
  }

  /** Units wanted by the callers a new one of this priority would wait behind. */
  ahead (priority: Priority): number {
    let units = 0
    for (let i = 0; i <= rankOf(priority); i++) for (const p of this.#queues[i]!) units += p.units
    return units
  }

  /** Waits in line for `units` (the log's first answer said `waitMs`); a bulk caller's `ticket` lets it be moved up. */
  wait (priority: Priority, units: number, deadline: number, waitMs: number, ticket?: Ticket): Promise<string[]> {
    const { clock, onRefuse } = this.#opts
    return new Promise<string[]>((resolve, reject) => {
      const queue = this.#queues[rankOf(priority)]!
      const place: Place = {
        priority,
        units,
        deadline,
        waitMs,
        queue,
        resolve,
        reject,
        timer: clock.after(deadline - clock.now(), () => {
          place.queue.splice(place.queue.indexOf(place), 1)
          onRefuse(place.priority)
          reject(rateBudgetExhausted(place.waitMs))
        }),
      }
      queue.push(place)
      if (ticket !== undefined && priority === 'bulk') {
        ticket.promote = () => {
          const at = place.queue.indexOf(place)
          if (at === -1 || place.priority === 'live') return
          place.queue.splice(at, 1)
          place.priority = 'live'
          place.queue = this.#queues[0]
          place.queue.push(place)
          // Bulk pacing no longer holds it back: it may be served now.
          this.schedule(0)
        }
      }
      this.schedule(waitMs)
    })
  }

  /** Asks the log again for the head of the line in `ms` (or sooner, if already due sooner). */
  schedule (ms: number): void {
    const { clock } = this.#opts
    const at = clock.now() + ms
    if (this.#timer !== undefined && this.#timerAt <= at) return
    this.#timer?.cancel()
    this.#timerAt = at
    this.#timer = clock.after(ms, () => { void this.#serve() })
  }

  /** Answers everyone still waiting with `err`, now (the service is closing). */
  close (err: ApiError): void {
    this.#timer?.cancel()
    this.#timer = undefined
    this.#refuseAll(err)
  }

  #refuseAll (err: ApiError): void {
    for (const p of this.#queues.flatMap((q) => q.splice(0))) {
      p.timer.cancel()
      p.reject(err)
    }
  }

  /** Hands freed units to the waiting callers: live first, then in arrival order. */
  async #serve (): Promise<void> {
    this.#timer = undefined
    this.#timerAt = Infinity
    if (this.#serving) return
    this.#serving = true
    const { clock, ask, release, onRefuse } = this.#opts
    try {
      for (;;) {
        const head = this.#queues.find((q) => q.length > 0)?.[0]
        if (head === undefined) return
        let grant: Grant
        try {
          grant = await ask(head.units, head.priority, head.deadline)
        } catch (err) {
          // The shared log is unreachable: nobody waiting can be served; they hear why now.
          return this.#refuseAll(err as ApiError)
        }
        const at = head.queue.indexOf(head)
        if (grant.ids.length === 0) {
          head.waitMs = grant.waitMs
          if (at === -1) continue
          // The budget shrank while it waited (a 429 paused us and lowered it): told now, with
          // when budget returns, rather than at its deadline, as it would have been on arrival.
          if (clock.now() + grant.waitMs >= head.deadline) {
            head.queue.splice(at, 1)
            head.timer.cancel()
            onRefuse(head.priority)
            head.reject(rateBudgetExhausted(grant.waitMs))
            continue
          }
          return this.schedule(grant.waitMs)
        }
        // The head timed out (or moved up) while we asked: its units go back.
        if (at === -1) {
          release(grant.ids)
          continue
        }
        head.queue.splice(at, 1)
        head.timer.cancel()
        head.resolve(grant.ids)
      }
    } finally {
      this.#serving = false
    }
  }
}

const rankOf = (priority: Priority) => (priority === 'live' ? 0 : 1)
