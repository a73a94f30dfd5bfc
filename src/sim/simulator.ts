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
  logger?: boolean | { level: string }
  /** Seeded fault injection; the same seed and the same order of requests give the same faults. */
  faults?: FaultOptions
  /** Per-token request budget over a fixed window, as Genesys enforces it (300 per minute per token). */
  rateLimit?: { requests: number; windowMs?: number /* default 60_000 */ }
  /** Keep a log of every API request in `sim.requests` (tests check rate windows with it). */
  recordRequests?: boolean
}

/**
 * Rates are fractions 0..1 of an endpoint's requests. Each request draws one number and the
 * rates that apply to its endpoint split [0, 1) in this order: conflict, rate limit, server
 * error, drop. So faults never combine and each rate is exact in expectation.
 */
export interface FaultOptions {
  /** Default 1. */
  seed?: number
  /** PATCH: 409 `conflict`, not applied. */
  conflictRate?: number
  /** GET and PATCH: 429 `too.many.requests` with `Retry-After: 1`, not applied. */
  rateLimitRate?: number
  /** Token, GET and PATCH: 500, 502 or 503. Half the PATCH ones come after the write landed. */
  serverErrorRate?: number
  /** Token, GET and PATCH: the socket is destroyed, no answer. Half the PATCH ones after the write landed. */
  dropRate?: number
  /** Every token, GET and PATCH request waits uniformly within [min, max] ms before it is handled. */
  latencyMs?: { min: number; max: number }
}

export interface SimRequest {
  /** `now()` when the request arrived. */
  at: number
  method: string
  path: string
  /** 0 when the connection was dropped. */
  status: number
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
  /** Every 429 sent, over budget or injected. */
  rateLimited: number
  /** 429s sent because the token's budget (`rateLimit`) was used up. */
  overBudget: number
  /** What fault injection did; natural 409s stay in `conflicts` only. */
  injected: {
    /** 409s on PATCH; not applied. */
    conflicts: number
    /** 429s on GET and PATCH; not applied. */
    rateLimited: number
    /** All 5xx sent on token, GET and PATCH, before or after a write. */
    serverErrors: number
    /** The part of `serverErrors` sent after the PATCH was applied. */
    serverErrorsAfterWrite: number
    /** Connections dropped on token and GET requests. */
    drops: number
    /** PATCH connections dropped before the write was applied. */
    dropsBeforeWrite: number
    /** PATCH connections dropped after the write was applied. */
    dropsAfterWrite: number
  }
}

export interface Simulator {
  app: FastifyInstance
  stats: SimStats
  /** API requests (GET and PATCH) in arrival order; stays empty unless `recordRequests`. */
  requests: SimRequest[]
  conversation(id: string): SimConversation | undefined
  /** One participant's attributes as the simulator holds them; undefined when unknown. */
  attributes(conversationId: string, participantId: string): Record<string, string> | undefined
  /** Adds or replaces a conversation, for tests that need particular participants. */
  seed(conversation: { id: string; participants: Array<Partial<SimParticipant> & { id: string; purpose: string }> }): void
  /** Invalidates every token issued so far, as if Genesys revoked them. */
  revokeTokens(): void
}

/** What the simulator accepts unless told otherwise; sandbox mode and `npm run sim` use it. */
export const SANDBOX_CLIENT = { id: 'sandbox', secret: 'sandbox' } as const

const MEDIA = new Set(['calls', 'callbacks', 'emails', 'messages'])

type Fault = 'conflict' | 'rateLimit' | 'serverError' | 'drop'
type Endpoint = 'token' | 'read' | 'write'
/** The faults each endpoint can suffer, in the order their rates split the draw. */
const FAULTS: Record<Endpoint, readonly Fault[]> = {
  token: ['serverError', 'drop'],
  read: ['rateLimit', 'serverError', 'drop'],
  write: ['conflict', 'rateLimit', 'serverError', 'drop'],
}
const SERVER_ERRORS = [
  { status: 500, code: 'internal.server.error', message: 'The server encountered an internal error.' },
  { status: 502, code: 'bad.gateway', message: 'The server received an invalid response from an upstream server.' },
  { status: 503, code: 'service.unavailable', message: 'The service is currently unavailable.' },
] as const
/** Genesys's per-token default, named in the headers of an injected 429 when no budget is set. */
const GENESYS_TOKEN_BUDGET = 300

/** What the draw decided for one request. */
interface Fate {
  fault: Fault | undefined
  serverError: (typeof SERVER_ERRORS)[number]
  /** A PATCH's server error or drop strikes after its write was applied. */
  afterWrite: boolean
}

/** Genesys's ErrorBody. */
function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.status(status).send({ message, code, status, messageWithParams: message, messageParams: {}, contextId: randomUUID(), details: [], errors: [] })
}

/** Tiny seedable PRNG (mulberry32): reproducible fault sequences without a dependency. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function checkOptions({ faults = {}, rateLimit }: SimulatorOptions) {
  let sum = 0
  for (const name of ['conflictRate', 'rateLimitRate', 'serverErrorRate', 'dropRate'] as const) {
    const rate = faults[name] ?? 0
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error(`faults.${name} must be a number from 0 to 1, got ${rate}`)
    sum += rate
  }
  // A PATCH can suffer every fault, so its rates bound all the others; allow for float rounding.
  if (sum > 1 + 1e-9) throw new Error(`faults.conflictRate + rateLimitRate + serverErrorRate + dropRate must be at most 1, got ${sum}`)
  if (faults.seed !== undefined && !Number.isInteger(faults.seed)) throw new Error(`faults.seed must be an integer, got ${faults.seed}`)
  const l = faults.latencyMs
  if (l !== undefined && !(l.min >= 0 && l.max >= l.min && Number.isFinite(l.max))) {
    throw new Error(`faults.latencyMs must have 0 <= min <= max, got ${JSON.stringify(l)}`)
  }
  if (rateLimit !== undefined && !(Number.isInteger(rateLimit.requests) && rateLimit.requests >= 1)) {
    throw new Error(`rateLimit.requests must be a whole number of at least 1, got ${rateLimit.requests}`)
  }
  if (rateLimit?.windowMs !== undefined && !(rateLimit.windowMs > 0 && Number.isFinite(rateLimit.windowMs))) {
    throw new Error(`rateLimit.windowMs must be a positive number, got ${rateLimit.windowMs}`)
  }
}

export function buildSimulator(opts: SimulatorOptions = {}): Simulator {
  checkOptions(opts)
  const { clientId = SANDBOX_CLIENT.id, clientSecret = SANDBOX_CLIENT.secret, semantics = 'merge', writeMs = 0, tokenTtlSeconds = 86_400, strict = false, faults = {} } = opts
  const now = opts.now ?? Date.now
  const expectedBasic = 'Basic ' + Buffer.from(`${clientId}:${clientSecret}`).toString('base64')
  const tokens = new Map<string, number>() // token → expiry (ms)
  const conversations = new Map<string, SimConversation>()
  const writing = new Set<string>() // conversations with a write in flight
  const stats: SimStats = {
    tokenRequests: 0, reads: 0, writes: 0, conflicts: 0, writesInFlight: 0, peakWritesInFlight: 0, unauthorized: 0, rateLimited: 0, overBudget: 0,
    injected: { conflicts: 0, rateLimited: 0, serverErrors: 0, serverErrorsAfterWrite: 0, drops: 0, dropsBeforeWrite: 0, dropsAfterWrite: 0 },
  }
  const requests: SimRequest[] = []
  const random = mulberry32(faults.seed ?? 1)
  const rates: Record<Fault, number> = { conflict: faults.conflictRate ?? 0, rateLimit: faults.rateLimitRate ?? 0, serverError: faults.serverErrorRate ?? 0, drop: faults.dropRate ?? 0 }
  const budget = opts.rateLimit && { requests: opts.rateLimit.requests, windowMs: opts.rateLimit.windowMs ?? 60_000 }
  const windows = new Map<string, { start: number; count: number }>() // token → its current budget window

  const app = Fastify({ logger: opts.logger ?? false })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // Every Genesys answer carries a correlation id; support asks for it.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('inin-correlation-id', randomUUID())
  })
  if (opts.recordRequests) {
    const entries = new WeakMap<FastifyRequest, SimRequest>()
    app.addHook('onRequest', async (req) => {
      if ((req.method === 'GET' || req.method === 'PATCH') && req.url.startsWith('/api/')) {
        const entry = { at: now(), method: req.method, path: req.url.replace(/\?.*/, ''), status: 0 }
        requests.push(entry)
        entries.set(req, entry)
      }
    })
    // A dropped request is never sent, so its status stays 0.
    app.addHook('onSend', async (req, reply) => {
      const entry = entries.get(req)
      if (entry !== undefined) entry.status = reply.statusCode
    })
  }

  /**
   * Draws a request's whole fate up front, synchronously, so the same order of requests
   * replays the same faults whatever the latency does to the order they finish in.
   */
  async function arrive(endpoint: Endpoint): Promise<Fate> {
    const roll = random()
    let edge = 0 // the endpoint's rates laid end to end over [0, 1)
    const fault = FAULTS[endpoint].find((f) => roll < (edge += rates[f]))
    const serverError = SERVER_ERRORS[fault === 'serverError' ? Math.floor(random() * SERVER_ERRORS.length) : 0]!
    const afterWrite = endpoint === 'write' && (fault === 'serverError' || fault === 'drop') && random() < 0.5
    const l = faults.latencyMs
    if (l !== undefined) await sleep(l.min + random() * (l.max - l.min))
    return { fault, serverError, afterWrite }
  }

  function tooManyRequests(reply: FastifyReply, allowed: number, count: number, resetSeconds: number) {
    stats.rateLimited++
    reply.headers({ 'retry-after': resetSeconds, 'inin-ratelimit-allowed': allowed, 'inin-ratelimit-count': count, 'inin-ratelimit-reset': resetSeconds })
    return fail(reply, 429, 'too.many.requests', `Rate limit exceeded the maximum. [${allowed}] requests allowed.`)
  }

  /** Counts an API request against its token's window; true (and a 429 sent) once the window's budget is spent. */
  function overBudget(token: string, reply: FastifyReply): boolean {
    if (budget === undefined) return false
    const at = now()
    let w = windows.get(token)
    if (w === undefined || at >= w.start + budget.windowMs) windows.set(token, (w = { start: at, count: 0 }))
    // Refused requests count too, as in a fixed-window counter: `inin-ratelimit-count` then exceeds the budget.
    if (++w.count <= budget.requests) return false
    stats.overBudget++
    tooManyRequests(reply, budget.requests, w.count, Math.ceil((w.start + budget.windowMs - at) / 1000))
    return true
  }

  /** The socket goes away with no HTTP answer, as when a load balancer or the network gives up. */
  function drop(req: FastifyRequest, reply: FastifyReply) {
    reply.hijack()
    req.raw.socket.destroy()
  }

  /** Sends the injected fault that strikes before the request is handled; true when it did. */
  function faultBefore(fate: Fate, endpoint: Endpoint, req: FastifyRequest, reply: FastifyReply): boolean {
    if (fate.fault === undefined || fate.afterWrite) return false
    const { injected } = stats
    if (fate.fault === 'conflict') {
      injected.conflicts++
      fail(reply, 409, 'conflict', 'The conversation was modified by another request.')
    } else if (fate.fault === 'rateLimit') {
      injected.rateLimited++
      // As if the budget had just run out; Genesys's other limits (org, endpoint) look the same.
      const allowed = budget?.requests ?? GENESYS_TOKEN_BUDGET
      tooManyRequests(reply, allowed, allowed + 1, 1)
    } else if (fate.fault === 'serverError') {
      injected.serverErrors++
      fail(reply, fate.serverError.status, fate.serverError.code, fate.serverError.message)
    } else {
      if (endpoint === 'write') injected.dropsBeforeWrite++
      else injected.drops++
      drop(req, reply)
    }
    return true
  }

  /** Sends the injected fault that strikes after a PATCH was applied; true when it did. */
  function faultAfterWrite(fate: Fate, req: FastifyRequest, reply: FastifyReply): boolean {
    if (!fate.afterWrite) return false
    if (fate.fault === 'drop') {
      stats.injected.dropsAfterWrite++
      drop(req, reply)
    } else {
      stats.injected.serverErrors++
      stats.injected.serverErrorsAfterWrite++
      fail(reply, fate.serverError.status, fate.serverError.code, fate.serverError.message)
    }
    return true
  }

  // A conversation made up on first use looks like an inbound call: a customer and an agent,
  // so a caller that knows only the conversation id finds its customer.
  function conversation(id: string): SimConversation | undefined {
    let c = conversations.get(id)
    if (c === undefined && !strict) {
      const joined = (purpose: string): SimParticipant => ({ id: randomUUID(), purpose, state: 'connected', attributes: {} })
      c = { id, startTime: new Date(now()).toISOString(), participants: [joined('customer'), joined('agent')] }
      conversations.set(id, c)
    }
    return c
  }

  // A participant id made up by the caller joins as another agent: the conversation already has
  // its customer, and one customer keeps "the customer" unambiguous.
  function participant(c: SimConversation, id: string): SimParticipant | undefined {
    let p = c.participants.find((x) => x.id === id)
    if (p === undefined && !strict) {
      p = { id, purpose: 'agent', state: 'connected', attributes: {} }
      c.participants.push(p)
    }
    return p
  }

  /** The request's bearer token when it is valid; otherwise a 401 is sent. */
  function authorized(req: FastifyRequest, reply: FastifyReply): string | undefined {
    const auth = req.headers.authorization ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : ''
    const expiry = tokens.get(token)
    if (expiry !== undefined && now() < expiry) return token
    stats.unauthorized++
    fail(reply, 401, 'bad.credentials', 'Invalid login credentials.')
    return undefined
  }

  /** Latency, authentication, the budget, then injected faults: the request's fate when it may go on. */
  async function admit(endpoint: 'read' | 'write', req: FastifyRequest, reply: FastifyReply): Promise<Fate | undefined> {
    const fate = await arrive(endpoint)
    const token = authorized(req, reply)
    if (token === undefined || overBudget(token, reply) || faultBefore(fate, endpoint, req, reply)) return undefined
    return fate
  }

  app.post('/oauth/token', async (req, reply) => {
    stats.tokenRequests++
    const fate = await arrive('token')
    const grant = (req.body as Record<string, string> | undefined)?.grant_type
    if (req.headers.authorization !== expectedBasic) {
      return reply.status(401).send({ error: 'invalid_client', description: 'client not found or secret does not match', error_description: 'client not found or secret does not match' })
    }
    if (grant !== 'client_credentials') {
      return reply.status(400).send({ error: 'unsupported_grant_type', description: `grant_type ${grant ?? '(none)'} is not supported` })
    }
    if (faultBefore(fate, 'token', req, reply)) return reply
    const token = randomUUID()
    tokens.set(token, now() + tokenTtlSeconds * 1000)
    return { access_token: token, token_type: 'bearer', expires_in: tokenTtlSeconds }
  })

  app.get<{ Params: { id: string } }>('/api/v2/conversations/:id', async (req, reply) => {
    if ((await admit('read', req, reply)) === undefined) return reply
    stats.reads++
    const c = conversation(req.params.id)
    if (c === undefined) return fail(reply, 404, 'not.found', `Conversation ${req.params.id} not found`)
    return c
  })

  async function patch(req: FastifyRequest<{ Params: { id: string; pid: string; media?: string } }>, reply: FastifyReply) {
    const fate = await admit('write', req, reply)
    if (fate === undefined) return reply
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
    // The write landed; the caller may still hear a failure, or nothing, and must cope.
    if (faultAfterWrite(fate, req, reply)) return reply
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
    requests,
    conversation: (id) => conversations.get(id),
    attributes: (c, p) => conversations.get(c)?.participants.find((x) => x.id === p)?.attributes,
    seed(c) {
      conversations.set(c.id, {
        id: c.id,
        startTime: new Date(now()).toISOString(),
        participants: c.participants.map((p) => ({ state: 'connected', attributes: {}, ...p })),
      })
    },
    revokeTokens() {
      tokens.clear()
      windows.clear()
    },
  }
}
