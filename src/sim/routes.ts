// The Genesys-shaped routes: token, GET conversation, PATCH participant attributes.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GENESYS_TOKEN_BUDGET, type Budget } from './budget.ts'
import type { Fate, Faults } from './faults.ts'
import type { SimSettings } from './options.ts'
import { fail } from './replies.ts'
import type { State } from './state.ts'
import type { SimStats } from './stats.ts'
import type { Tokens } from './tokens.ts'

export interface GenesysDeps {
  settings: SimSettings
  stats: SimStats
  state: State
  tokens: Tokens
  budget: Budget
  faults: Faults
}

/** What the Limits API says of a simulator that enforces no budget: the largest limit the gateway takes. */
const NO_BUDGET = 1_000_000

const MEDIA = new Set(['calls', 'callbacks', 'emails', 'messages'])

type PatchRequest = FastifyRequest<{ Params: { id: string; pid: string; media?: string } }>

export function genesysRoutes (app: FastifyInstance, { settings, stats, state, tokens, budget, faults }: GenesysDeps) {
  const writing = new Set<string>() // conversations with a write in flight

  /** Latency, authentication, the budget, then injected faults: the request's fate when it may go on. */
  async function admit (endpoint: 'read' | 'write', req: FastifyRequest, reply: FastifyReply): Promise<Fate | undefined> {
    const fate = await faults.arrive(endpoint)
    const token = tokens.authorized(req, reply)
    if (token === undefined || budget.spent(token, reply) || faults.before(fate, req, reply)) return undefined
    return fate
  }

  app.post('/oauth/token', async (req, reply) => {
    stats.tokenRequests++
    const fate = await faults.arrive('token')
    const grant = (req.body as Record<string, string> | undefined)?.grant_type
    if (!tokens.isClient(req.headers.authorization)) {
      const description = 'client not found or secret does not match'
      return reply.status(401).send({ error: 'invalid_client', description, error_description: description })
    }
    if (grant !== 'client_credentials') {
      return reply.status(400).send({ error: 'unsupported_grant_type', description: `grant_type ${grant ?? '(none)'} is not supported` })
    }
    if (faults.before(fate, req, reply)) return reply
    return tokens.issue()
  })

  app.get<{ Params: { id: string } }>('/api/v2/conversations/:id', async (req, reply) => {
    if ((await admit('read', req, reply)) === undefined) return reply
    stats.reads++
    const c = state.conversation(req.params.id)
    if (c === undefined) return fail(reply, 404, 'not.found', `Conversation ${req.params.id} not found`)
    return state.shown(c)
  })

  // The org's effective limits, as Genesys publishes them; this token's rate is the simulator's own
  // budget, and without one it enforces none and says so (the most a gateway may be told).
  // Counted like any API request.
  app.get<{ Params: { namespace: string } }>('/api/v2/organizations/limits/namespaces/:namespace', async (req, reply) => {
    if ((await admit('read', req, reply)) === undefined) return reply
    stats.limitReads++
    if (settings.limitsApi === 'forbidden') return fail(reply, 403, 'missing.permissions', 'Unable to perform the requested action. You are missing the following permission(s): [limits:organization:view]')
    if (req.params.namespace !== 'platform.api') return fail(reply, 404, 'not.found', `Namespace ${req.params.namespace} not found`)
    const limit = (key: string, value: number) => ({ key, namespace: 'platform.api', value })
    return {
      entities: [
        limit('client.credentials.token.rate.per.minute', settings.rateLimit?.requests ?? NO_BUDGET),
        limit('token.rate.per.minute', GENESYS_TOKEN_BUDGET),
        limit('org.app.user.rate.per.minute', 3000),
        limit('request.bytes.max', 512_000),
      ],
    }
  })

  async function patch (req: PatchRequest, reply: FastifyReply) {
    const fate = await admit('write', req, reply)
    if (fate === undefined) return reply
    const { id, pid, media } = req.params
    if (media !== undefined && !MEDIA.has(media)) return fail(reply, 404, 'not.found', `No resource at ${req.url}`)
    const attributes = stringMap((req.body as { attributes?: unknown } | undefined)?.attributes)
    if (attributes === undefined) return fail(reply, 400, 'bad.request', 'attributes must be an object of string values')
    const c = state.conversation(id)
    const p = c && state.participantToWrite(c, pid)
    if (c === undefined || p === undefined) return fail(reply, 404, 'not.found', `Participant ${pid} not found in conversation ${id}`)
    if (writing.has(id)) {
      stats.conflicts++
      return fail(reply, 409, 'conflict', `Conversation ${id} was modified by another request`)
    }
    writing.add(id)
    stats.peakWritesInFlight = Math.max(stats.peakWritesInFlight, ++stats.writesInFlight)
    try {
      if (settings.writeMs > 0) await sleep(settings.writeMs)
      state.write(p, settings.semantics === 'merge' ? { ...p.attributes, ...attributes } : { ...attributes })
      stats.writes++
    } finally {
      writing.delete(id)
      stats.writesInFlight--
    }
    // The write landed; the caller may still hear a failure, or nothing, and must cope.
    if (faults.afterWrite(fate, req, reply)) return reply
    // The generic endpoint answers 202 with no body; the media-specific ones echo the map.
    return media === undefined ? reply.status(202).send() : reply.status(202).send({ attributes: p.attributes })
  }
  app.patch('/api/v2/conversations/:id/participants/:pid/attributes', patch)
  app.patch('/api/v2/conversations/:media/:id/participants/:pid/attributes', patch)
}

function stringMap (value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  return Object.values(value).every((v) => typeof v === 'string') ? (value as Record<string, string>) : undefined
}
