// The simulated conversations and their participants, and how made-up ones come to be.
import { randomUUID } from 'node:crypto'
import type { SimSettings } from './options.ts'

export interface SimParticipant {
  id: string
  purpose: string
  state: string
  attributes: Record<string, string>
}

export interface SimConversation {
  id: string
  startTime: string
  /** Set once the conversation has ended, as Genesys sets it. */
  endTime?: string
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
  /** Every conversation, in the order they came to be. */
  all(): SimConversation[]
  /** Ends the conversation (once: a second call keeps the first endTime); undefined when unknown. */
  end(id: string): SimConversation | undefined
  /** Sets the participant's attributes as of now; reads see the change only `readLagMs` later. */
  write(p: SimParticipant, attributes: Record<string, string>): void
  /** The conversation as a read shows it now: each participant's attributes as they stood `readLagMs` ago. */
  shown(c: SimConversation): SimConversation
}

/** A participant's earlier maps, oldest first: each was in force until `until` (epoch ms). */
type Past = Array<{ until: number; attributes: Record<string, string> }>

/** The purposes the service's conversation route falls back to; one of them makes "the customer". */
const CUSTOMER_LIKE = new Set(['customer', 'external'])

export function createState ({ strict, clock, readLagMs }: Pick<SimSettings, 'strict' | 'clock' | 'readLagMs'>): State {
  const conversations = new Map<string, SimConversation>()
  // Genesys propagates attribute writes asynchronously: a read a moment after a write may still
  // show the map before it. Kept only while some read could still see it.
  const pasts = new WeakMap<SimParticipant, Past>()
  const forget = (past: Past, seen: number) => {
    while (past.length > 0 && past[0]!.until <= seen) past.shift()
  }
  // Customers the simulator made up, not yet named by any write: the first participant a write
  // names takes such a customer's place, so that a caller who made up both ids writes to the
  // same participant that "the conversation's customer" finds.
  const standIns = new WeakSet<SimParticipant>()
  const joined = (id: string, purpose: string): SimParticipant => ({ id, purpose, state: 'connected', attributes: {} })

  function put (id: string, participants: ParticipantSpec[]): SimConversation {
    const c = { id, startTime: new Date(clock()).toISOString(), participants: participants.map((p) => ({ state: 'connected', attributes: {}, ...p })) }
    conversations.set(id, c)
    return c
  }

  return {
    get: (id) => conversations.get(id),
    put,
    all: () => [...conversations.values()],
    end (id) {
      const c = conversations.get(id)
      if (c !== undefined && c.endTime === undefined) {
        c.endTime = new Date(clock()).toISOString()
        for (const p of c.participants) p.state = 'disconnected'
      }
      return c
    },

    write (p, attributes) {
      if (readLagMs > 0) {
        const now = clock()
        let past = pasts.get(p)
        if (past === undefined) pasts.set(p, (past = []))
        forget(past, now - readLagMs)
        past.push({ until: now, attributes: p.attributes })
      }
      p.attributes = attributes
    },

    shown (c) {
      if (readLagMs === 0) return c
      const seen = clock() - readLagMs
      return {
        ...c,
        participants: c.participants.map((p) => {
          const past = pasts.get(p)
          if (past === undefined) return p
          forget(past, seen)
          return past.length === 0 ? p : { ...p, attributes: past[0]!.attributes }
        }),
      }
    },

    // A conversation made up on first use looks like an inbound call: a customer and an agent,
    // so a caller that knows only the conversation id finds its customer.
    conversation (id) {
      let c = conversations.get(id)
      if (c === undefined && !strict) {
        c = put(id, [joined(randomUUID(), 'customer'), joined(randomUUID(), 'agent')])
        standIns.add(c.participants[0]!)
      }
      return c
    },

    participantToWrite (c, id) {
      const known = c.participants.find((x) => x.id === id)
      if (known !== undefined || strict) {
        if (known !== undefined) standIns.delete(known)
        return known
      }
      const standIn = c.participants.findIndex((x) => standIns.has(x))
      if (standIn >= 0) return (c.participants[standIn] = joined(id, 'customer'))
      // Otherwise the caller's participant becomes the customer when there is none, and another
      // agent when there is: one customer keeps "the customer" unambiguous.
      const p = joined(id, c.participants.some((x) => CUSTOMER_LIKE.has(x.purpose.toLowerCase())) ? 'agent' : 'customer')
      c.participants.push(p)
      return p
    },
  }
}
