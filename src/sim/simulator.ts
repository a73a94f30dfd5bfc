import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'

/**
 * A stand-in for the slice of Genesys Cloud this service uses, speaking the wire contract in
 * shared/genesys-api.md: client-credentials tokens, GET conversation, PATCH participant
 * attributes. It keeps counters so tests can see what reached "Genesys".
 */
export interface SimulatorOptions {
  clientId?: string
  clientSecret?: string
  /** How PATCH applies attributes: per-key overwrite, or the whole map replaced. */
  semantics?: 'merge' | 'replace'
  /** Each write holds its conversation this long; a second write meanwhile gets 409. */
  writeMs?: number
  /** Token lifetime sent as `expires_in`. */
  tokenTtlSeconds?: number
  /** Unknown conversations and participants are 404 instead of created on first use. */
  strict?: boolean
  now?: () => number
  logger?: boolean
}

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

export interface SimStats {
  tokenRequests: number
  reads: number
  /** PATCHes accepted and applied. */
  writes: number
  /** PATCHes refused with 409 because another write to the conversation was in flight. */
  conflicts: number
  writesInFlight: number
  /** Most writes in flight at once across all conversations. */
  peakWritesInFlight: number
  unauthorized: number
}

export interface Simulator {
  app: FastifyInstance
  stats: SimStats
  conversation(id: string): SimConversation | undefined
  /** Adds or replaces a conversation, for tests that need particular participants. */
  seed(conversation: { id: string; participants: Array<Partial<SimParticipant> & { id: string; purpose: string }> }): void
  /** Invalidates every token issued so far, as if Genesys revoked them. */
  revokeTokens(): void
}

/** What the simulator accepts unless told otherwise; sandbox mode and `npm run sim` use it. */
export const SANDBOX_CLIENT = { id: 'sandbox', secret: 'sandbox' } as const

const MEDIA = new Set(['calls', 'callbacks', 'emails', 'messages'])

/** Genesys's ErrorBody. */
function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.status(status).send({ message, code, status, messageWithParams: message, messageParams: {}, contextId: randomUUID(), details: [], errors: [] })
}

export function buildSimulator(opts: SimulatorOptions = {}): Simulator {
  const { clientId = SANDBOX_CLIENT.id, clientSecret = SANDBOX_CLIENT.secret, semantics = 'merge', writeMs = 0, tokenTtlSeconds = 86_400, strict = false } = opts
  const now = opts.now ?? Date.now
  const expectedBasic = 'Basic ' + Buffer.from(`${clientId}:${clientSecret}`).toString('base64')
  const tokens = new Map<string, number>() // token → expiry (ms)
  const conversations = new Map<string, SimConversation>()
  const writing = new Set<string>() // conversations with a write in flight
  const stats: SimStats = { tokenRequests: 0, reads: 0, writes: 0, conflicts: 0, writesInFlight: 0, peakWritesInFlight: 0, unauthorized: 0 }

  const app = Fastify({ logger: opts.logger ?? false })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // Every Genesys answer carries a correlation id; support asks for it.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('inin-correlation-id', randomUUID())
  })

  function conversation(id: string): SimConversation | undefined {
    let c = conversations.get(id)
    if (c === undefined && !strict) {
      c = { id, startTime: new Date(now()).toISOString(), participants: [] }
      conversations.set(id, c)
    }
    return c
  }

  function participant(c: SimConversation, id: string): SimParticipant | undefined {
    let p = c.participants.find((x) => x.id === id)
    if (p === undefined && !strict) {
      p = { id, purpose: 'customer', state: 'connected', attributes: {} }
      c.participants.push(p)
    }
    return p
  }

  function authorized(req: FastifyRequest, reply: FastifyReply): boolean {
    const auth = req.headers.authorization ?? ''
    const expiry = auth.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined
    if (expiry !== undefined && now() < expiry) return true
    stats.unauthorized++
    fail(reply, 401, 'bad.credentials', 'Invalid login credentials.')
    return false
  }

  app.post('/oauth/token', async (req, reply) => {
    stats.tokenRequests++
    const grant = (req.body as Record<string, string> | undefined)?.grant_type
    if (req.headers.authorization !== expectedBasic) {
      return reply.status(401).send({ error: 'invalid_client', description: 'client not found or secret does not match', error_description: 'client not found or secret does not match' })
    }
    if (grant !== 'client_credentials') {
      return reply.status(400).send({ error: 'unsupported_grant_type', description: `grant_type ${grant ?? '(none)'} is not supported` })
    }
    const token = randomUUID()
    tokens.set(token, now() + tokenTtlSeconds * 1000)
    return { access_token: token, token_type: 'bearer', expires_in: tokenTtlSeconds }
  })

  app.get<{ Params: { id: string } }>('/api/v2/conversations/:id', async (req, reply) => {
    if (!authorized(req, reply)) return reply
    stats.reads++
    const c = conversation(req.params.id)
    if (c === undefined) return fail(reply, 404, 'not.found', `Conversation ${req.params.id} not found`)
    return c
  })

  async function patch(req: FastifyRequest<{ Params: { id: string; pid: string; media?: string } }>, reply: FastifyReply) {
    if (!authorized(req, reply)) return reply
    const { id, pid, media } = req.params
    if (media !== undefined && !MEDIA.has(media)) return fail(reply, 404, 'not.found', `No resource at ${req.url}`)
    const attributes = (req.body as { attributes?: unknown } | undefined)?.attributes
    if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes) || !Object.values(attributes).every((v) => typeof v === 'string')) {
      return fail(reply, 400, 'bad.request', 'attributes must be an object of string values')
    }
    const c = conversation(id)
    const p = c && participant(c, pid)
    if (c === undefined || p === undefined) return fail(reply, 404, 'not.found', `Participant ${pid} not found in conversation ${id}`)
    if (writing.has(id)) {
      stats.conflicts++
      return fail(reply, 409, 'conflict', `Conversation ${id} was modified by another request`)
    }
    writing.add(id)
    stats.peakWritesInFlight = Math.max(stats.peakWritesInFlight, ++stats.writesInFlight)
    try {
      if (writeMs > 0) await sleep(writeMs)
      p.attributes = semantics === 'merge' ? { ...p.attributes, ...(attributes as Record<string, string>) } : { ...(attributes as Record<string, string>) }
      stats.writes++
    } finally {
      writing.delete(id)
      stats.writesInFlight--
    }
    // The generic endpoint answers 202 with no body; the media-specific ones echo the map.
    return media === undefined ? reply.status(202).send() : reply.status(202).send({ attributes: p.attributes })
  }
  app.patch('/api/v2/conversations/:id/participants/:pid/attributes', patch)
  app.patch('/api/v2/conversations/:media/:id/participants/:pid/attributes', patch)

  // Test and operator views of the simulator's own state; no token needed.
  app.get('/__sim/stats', async () => stats)
  app.get<{ Params: { id: string } }>('/__sim/conversations/:id', async (req, reply) => conversations.get(req.params.id) ?? fail(reply, 404, 'not.found', 'unknown conversation'))

  return {
    app,
    stats,
    conversation: (id) => conversations.get(id),
    seed(c) {
      conversations.set(c.id, {
        id: c.id,
        startTime: new Date(now()).toISOString(),
        participants: c.participants.map((p) => ({ state: 'connected', attributes: {}, ...p })),
      })
    },
    revokeTokens: () => tokens.clear(),
  }
}
