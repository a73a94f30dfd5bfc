import { systemClock, type Clock, type Timer } from '../clock.ts'
import { ApiError, conversationEnded, coordinationUnavailable } from '../errors.ts'
import type { RateBudget } from './budget.ts'
import { Journal } from './journal.ts'
import { PROPAGATION_MS } from '../genesys/index.ts'
import { MemoryJournalStore } from '../coordination/index.ts'
import { chooseParticipant } from '../attributes/index.ts'
import { toApiError } from './answer.ts'
import type { ReadResult, Upstream, Urgency } from './ports.ts'
import { withRetries, type Retry, type RetryPolicy } from './retry.ts'
import type { Attributes, Conversation, Target } from '../domain.ts'

export interface ReaderOptions {
  policy: RetryPolicy
  /** A late read shows what this gateway wrote, not the map before it. */
  journal?: Journal | undefined
  budget: RateBudget
  onRetry?: ((retry: Retry) => void) | undefined
  clock?: Clock | undefined
}

/**
 * The participant's attributes as they stand, for read-back and dry runs: not queued behind
 * writes (a read changes nothing), but through the same budget and retry policy, and answered
 * by the caller's deadline.
 */
export class AttributeReader {
  readonly #upstream: Upstream
  readonly #opts: ReaderOptions
  readonly #clock: Clock
  readonly #journal: Journal

  constructor (upstream: Upstream, opts: ReaderOptions) {
    this.#upstream = upstream
    this.#opts = opts
    this.#clock = opts.clock ?? systemClock
    this.#journal = opts.journal ?? new Journal(new MemoryJournalStore(), PROPAGATION_MS, this.#clock)
  }

  /** `refuseEnded`: read for a dry run, which answers as the write would: an ended conversation is refused. */
  async read (conversationId: string, target: Target, urgency: Urgency, refuseEnded = false): Promise<ReadResult> {
    const conversation = await this.#get(conversationId, urgency)
    if (refuseEnded && conversation.endTime !== undefined) throw conversationEnded(conversationId, conversation.endTime)
    const p = chooseParticipant(conversation, target, false)
    return { participantId: p.id, attributes: await this.#corrected(conversationId, p.id, p.attributes) }
  }

  /**
   * The whole conversation (every participant), by the same path, each map as the gateway knows
   * it: the console shows it. `asGenesysShows`: as Genesys answered, late or not (the doctor's probe
   * asks what Genesys itself does).
   */
  async conversation (conversationId: string, urgency: Urgency, { asGenesysShows = false } = {}): Promise<Conversation> {
    const conversation = await this.#get(conversationId, urgency)
    if (asGenesysShows) return conversation
    const participants = await Promise.all(
      conversation.participants.map(async (p) => ({ ...p, attributes: await this.#corrected(conversationId, p.id, p.attributes) }))
    )
    return { ...conversation, participants }
  }

  /** A late read shows what this gateway wrote, not the map before it. */
  async #corrected (conversationId: string, participantId: string, attributes: Attributes | undefined): Promise<Attributes> {
    const corrected = this.#journal.correct(conversationId, participantId, attributes ?? {})
    return (await corrected.catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))).attributes
  }

  #get (conversationId: string, urgency: Urgency): Promise<Conversation> {
    const { budget, policy, onRetry } = this.#opts
    const attempt = withRetries(
      policy,
      () => urgency.deadline,
      () => false,
      () => budget.take(urgency.priority, urgency.deadline, () => this.#upstream.getConversation(conversationId)),
      onRetry
    ) as Promise<Conversation>
    let timer: Timer | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = this.#clock.after(urgency.deadline - this.#clock.now(), () => reject(new ApiError('DEADLINE_EXCEEDED', 'the deadline passed before Genesys Cloud answered the read')))
    })
    return Promise.race([attempt.catch((err: unknown) => Promise.reject(toApiError(err))), late]).finally(() => timer?.cancel())
  }
}
