/**
 * A stand-in for the slice of Genesys Cloud this service uses, speaking its wire contract
 * (docs/simulator.md): client-credentials tokens, GET conversation, PATCH participant
 * attributes. It keeps counters so tests can see what reached "Genesys".
 */
import type { FastifyInstance } from 'fastify'
import { adminRoutes } from './admin.ts'
import { simulatorApp } from './app.ts'
import { createBudget } from './budget.ts'
import { createFaults } from './faults.ts'
import { settingsOf, type SimulatorOptions } from './options.ts'
import { genesysRoutes } from './routes.ts'
import { createState, type ParticipantSpec, type SimConversation } from './state.ts'
import { emptyStats, type SimRequest, type SimStats } from './stats.ts'
import { createTokens } from './tokens.ts'

export { SANDBOX_CLIENT, type FaultOptions, type SimulatorOptions } from './options.ts'
export type { SimConversation, SimParticipant } from './state.ts'
export type { SimRequest, SimStats } from './stats.ts'

export interface Simulator {
  app: FastifyInstance
  stats: SimStats
  /** API requests (GET and PATCH) in arrival order; stays empty unless `recordRequests`. */
  requests: SimRequest[]
  conversation(id: string): SimConversation | undefined
  /** Every conversation, newest first (the console lists them). */
  conversations(): SimConversation[]
  /** One participant's attributes as the simulator holds them; undefined when unknown. */
  attributes(conversationId: string, participantId: string): Record<string, string> | undefined
  /** Adds or replaces a conversation, for tests that need particular participants. */
  seed(conversation: { id: string; participants: ParticipantSpec[] }): void
  /**
   * Sets attributes per key behind the gateway's back, as a flow or another integration would;
   * false when the conversation or participant is unknown.
   */
  writeBehind(conversationId: string, participantId: string, attributes: Record<string, string>): boolean
  /** Ends the conversation (sets its endTime); undefined when unknown. */
  end(id: string): SimConversation | undefined
  /** Invalidates every token issued so far, as if Genesys revoked them. */
  revokeTokens(): void
}

/** Throws, naming every bad option, before anything is built. */
export function buildSimulator (opts: SimulatorOptions = {}): Simulator {
  const settings = settingsOf(opts)
  const stats = emptyStats()
  const requests: SimRequest[] = []
  const state = createState(settings)
  const tokens = createTokens(settings, stats)
  const budget = createBudget(settings, stats)
  const faults = createFaults(settings.faults, stats)

  const app = simulatorApp(settings, requests)
  genesysRoutes(app, { settings, stats, state, tokens, budget, faults })
  adminRoutes(app, { stats, state })

  return {
    app,
    stats,
    requests,
    conversation: (id) => state.get(id),
    conversations: () => state.all().reverse(),
    attributes: (c, p) => state.get(c)?.participants.find((x) => x.id === p)?.attributes,
    seed (c) {
      state.put(c.id, c.participants)
    },
    writeBehind (c, p, attributes) {
      const participant = state.get(c)?.participants.find((x) => x.id === p)
      if (participant !== undefined) state.write(participant, { ...participant.attributes, ...attributes })
      return participant !== undefined
    },
    end: (id) => state.end(id),
    revokeTokens () {
      tokens.revokeAll()
      budget.clear()
    },
  }
}
