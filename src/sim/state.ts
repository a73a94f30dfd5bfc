// The simulated conversations and their participants, and how made-up ones come to be.
import { randomUUID } from 'node:crypto'
import type { SimSettings } from './options.js'

export interface SimParticipant {
  id: string
  purpose: string
  state: string
  attributes: Record<string, string>
}

export interface SimConversation {
  id: string
  startTime: string
  participants: SimParticipant[]
}

/** A participant as tests and `POST /__sim/conversations` describe it: the rest is filled in. */
export type ParticipantSpec = Partial<SimParticipant> & { id: string; purpose: string }

export interface State {
  /** The conversation as it is, never made up. */
  get(id: string): SimConversation | undefined
  /** The conversation, made up on first use unless strict. */
  conversation(id: string): SimConversation | undefined
  /** The participant a write names, joining it to the conversation on first use unless strict. */
  participantToWrite(c: SimConversation, id: string): SimParticipant | undefined
  /** Adds or replaces a conversation with exactly these participants. */
  put(id: string, participants: ParticipantSpec[]): SimConversation
}

export function createState ({ strict, now }: Pick<SimSettings, 'strict' | 'now'>): State {
  const conversations = new Map<string, SimConversation>()
  const joined = (id: string, purpose: string): SimParticipant => ({ id, purpose, state: 'connected', attributes: {} })

  function put (id: string, participants: ParticipantSpec[]): SimConversation {
    const c = { id, startTime: new Date(now()).toISOString(), participants: participants.map((p) => ({ state: 'connected', attributes: {}, ...p })) }
    conversations.set(id, c)
    return c
  }

  return {
    get: (id) => conversations.get(id),
    put,

    // A conversation made up on first use looks like an inbound call: a customer and an agent,
    // so a caller that knows only the conversation id finds its customer.
    conversation (id) {
      let c = conversations.get(id)
      if (c === undefined && !strict) {
        c = put(id, [joined(randomUUID(), 'customer'), joined(randomUUID(), 'agent')])
      }
      return c
    },

    // A participant id made up by the caller joins as another agent: the conversation already has
    // its customer, and one customer keeps "the customer" unambiguous.
    participantToWrite (c, id) {
      let p = c.participants.find((x) => x.id === id)
      if (p === undefined && !strict) {
        p = joined(id, 'agent')
        c.participants.push(p)
      }
      return p
    },
  }
}
