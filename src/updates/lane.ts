import type { Timer } from '../clock.ts'
import type { Ticket } from './budget-line.ts'
import type { Sequences } from '../coordination/index.ts'
import type { Update, WriteResult } from './ports.ts'
import type { Traced } from './tracing.ts'
import type { Attributes, Priority, Target } from '../domain.ts'

/** A caller waiting for its update's outcome. */
export interface Waiter extends Update {
  resolve: (r: WriteResult) => void
  reject: (e: unknown) => void
  timer: Timer
  /** Its request's trace, when tracing is on. */
  traced?: Traced | undefined
}

/** The updates to one participant that will go out in one write. */
export interface Batch {
  /** Its key in the lane. */
  key: string
  target: Target
  /** Callers not yet answered, in arrival order. */
  waiters: Set<Waiter>
  /** A PATCH of this batch is on the wire: an expiring caller's outcome is unknown, not "not applied". */
  sending: boolean
  /** An earlier PATCH of this batch may have landed; its changes can no longer be taken back. */
  mayHaveLanded: boolean
  changes: Attributes
  /** Per key in `changes`, the sequence of the update it came from. */
  seqs: Sequences
  /** PATCHes sent for this batch so far. */
  attempts: number
}

/** A conversation's pending batches, by target, in arrival order. */
export interface Lane {
  batches: Map<string, Batch>
  /** The batch being written now. */
  current: Batch | undefined
  /** Its place in the budget's queue, should a live caller arrive behind a bulk one. */
  ticket: Ticket
  /** Unanswered callers, pending and in flight. */
  callers: number
}

/**
 * What one write attempt sees of its batch (write.ts). The queue owns the batch and its lane, and
 * decides what each of these means for them: the Writer changes neither.
 */
export interface Job {
  readonly target: Target
  /** Callers still waiting: with none left, the attempt is dropped. */
  readonly waiting: number
  /** The latest deadline among them: the write is worth making until then. */
  deadline(): number
  /** Live when a caller of this batch is. */
  live(): boolean
  /** Its place in the budget's queue, live when a caller of it or behind it in the lane is; a new one each attempt. */
  ticket(): { priority: Priority; ticket: Ticket }
  /**
   * What goes out now: callers whose deadline is closer than `windowMs` are answered late and
   * withdrawn, and the rest's updates folded; once a PATCH may have landed, what it carried stays.
   * Undefined when no caller is left.
   */
  update(windowMs: number): { changes: Attributes; seqs: Sequences } | undefined
  /** The PATCH is on the wire: a caller answered at its deadline now is told "outcome unknown". */
  sending(): void
  /** Its answer, or none: `mayHaveLanded` when Genesys may have applied it. */
  sent(mayHaveLanded: boolean): void
}

export function hasLive (batch: Batch): boolean {
  for (const w of batch.waiters) if (w.priority === 'live') return true
  return false
}

/** The latest deadline among the batch's callers: the write is worth making until then. */
export function deadlineOf (batch: Batch): number {
  let d = 0
  for (const w of batch.waiters) d = Math.max(d, w.deadline)
  return d
}
