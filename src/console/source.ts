import type { Updates } from '../updates/index.ts'
import type { Simulator } from '../sim/index.ts'

export interface ConsoleParticipant {
  id: string
  purpose: string
  attributes: Record<string, string>
}

export interface ConversationSummary {
  id: string
  startTime: string
  endTime?: string | undefined
  participants: number
}

/** Where the console reads conversations: the simulator in sandbox mode, Genesys otherwise. */
export interface ConversationSource {
  /** Every conversation, newest first; undefined when there is no list to show (Genesys). */
  list(): ConversationSummary[] | undefined
  /** The participants; undefined when the conversation is unknown. Rejects with an ApiError. */
  participants(conversationId: string): Promise<ConsoleParticipant[] | undefined>
  /** A new conversation with a customer and an agent (sandbox only); its id. */
  create?(): string
  /** Ends the conversation as a hang-up would (sandbox only); its endTime, undefined when unknown. */
  end?(conversationId: string): string | undefined
  /** Sets attributes behind this service's back, as a flow would (sandbox only); false when the participant is unknown. */
  writeBehind?(conversationId: string, participantId: string, attributes: Record<string, string>): boolean
  /** When the conversation ended, where the source can tell without a request (sandbox only). */
  endTime?(conversationId: string): string | undefined
  /** A write went through this service: the next read must not be an older copy. */
  changed(conversationId: string): void
}

const copy = (participants: readonly ConsoleParticipant[]): ConsoleParticipant[] =>
  participants.map(({ id, purpose, attributes }) => ({ id, purpose, attributes: { ...attributes } }))

/** Sandbox: the simulator's state, read in-process, at no cost to anyone's budget. */
export function simulatorSource (sim: Simulator): ConversationSource {
  return {
    list: () => sim.conversations().map((c) => ({ id: c.id, startTime: c.startTime, endTime: c.endTime, participants: c.participants.length })),
    participants: async (id) => {
      const c = sim.conversation(id)
      return c && copy(c.participants)
    },
    create () {
      const id = crypto.randomUUID()
      sim.seed({ id, participants: [{ id: crypto.randomUUID(), purpose: 'customer' }, { id: crypto.randomUUID(), purpose: 'agent' }] })
      return id
    },
    end: (id) => sim.end(id)?.endTime,
    writeBehind: (id, participantId, attributes) => sim.writeBehind(id, participantId, attributes),
    endTime: (id) => sim.conversation(id)?.endTime,
    changed () {},
  }
}

/**
 * Genesys: one GET conversation through the service's own read path (bulk priority, so flows
 * go first, and the same request budget), shared by every open console page and reused for
 * `minIntervalMs`. A page watching a conversation thus costs at most one request per interval
 * (30 a minute at 2 s, a tenth of Genesys's 300 per minute), whatever the number of viewers;
 * a write through this service drops the copy, so it shows at the next poll.
 */
export function genesysSource (updates: Updates, opts: { minIntervalMs: number; timeoutMs: number; now?: () => number }): ConversationSource {
  const now = opts.now ?? Date.now
  const cache = new Map<string, { at: number; read: Promise<ConsoleParticipant[]> }>()
  return {
    list: () => undefined,
    async participants (id) {
      const t = now()
      for (const [k, v] of cache) if (t - v.at >= opts.minIntervalMs) cache.delete(k)
      let hit = cache.get(id)
      if (hit === undefined) {
        const read = updates.conversation(id, { deadline: t + opts.timeoutMs, priority: 'bulk' })
          .then((c) => c.participants.map((p) => ({ id: p.id, purpose: p.purpose, attributes: p.attributes ?? {} })))
        hit = { at: t, read }
        cache.set(id, hit)
        read.catch(() => cache.delete(id))
      }
      return copy(await hit.read)
    },
    changed (id) {
      cache.delete(id)
    },
  }
}
