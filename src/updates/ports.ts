import type { Lease, Sequences } from '../coordination/index.ts'
import type { Attributes, Conversation, Priority } from '../domain.ts'

/**
 * What the pipeline needs from Genesys; GenesysClient is the real one. Its failures are
 * UpstreamErrors (genesys/upstream-error.ts).
 */
export interface Upstream {
  getConversation(conversationId: string): Promise<Conversation>
  patchParticipantAttributes(conversationId: string, participantId: string, attributes: Attributes): Promise<void>
  /** Whatever a request needs before it can go out (a token); undefined when ready. The writer waits for it before judging its read's age. */
  prepare?(): Promise<unknown> | undefined
}

/** How urgent a caller is: for the request budget, and for when to give up. */
export interface Urgency {
  /** Epoch ms by which the caller must have its answer. */
  deadline: number
  priority: Priority
}

/** One caller's update. */
export interface Update extends Urgency {
  changes: Attributes
  /**
   * Per key, the value's place in its conversation's order of acceptance (order.ts): set for an
   * asynchronous update; a synchronous one has none and is newer than any that has.
   */
  seqs?: Sequences | undefined
}

export interface WriteResult {
  /** The participant written to (found by purpose, for a conversation-level write). */
  participantId: string
  /** The participant's full map as written. */
  attributes: Attributes
  /** How many callers' updates went into this write. */
  coalesced: number
  /** PATCH attempts the write took (more than one after retries). */
  attempts: number
}

export interface ReadResult {
  participantId: string
  attributes: Attributes
}

/** A conversation's lock held: while `held`, no other replica writes to it (src/coordination/lock.ts). */
export type { Lease }
