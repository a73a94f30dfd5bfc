import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { genesysId, updateBody, type AttributeLimits, type UpdateBody, merge } from '../attributes/index.ts'
import { prefersAsync, acceptedSchema, type AsyncDelivery } from '../delivery/index.ts'
import { ApiError, problemSchema } from '../errors.ts'
import { requireAttributes, requireOperation, scopeOf, visible } from '../access/index.ts'
import type { ZodTypeProvider } from '../http/index.ts'
import type { Urgency } from '../updates/index.ts'
import type { Clock } from '../clock.ts'
import type { Target } from '../domain.ts'
import type { Updates } from '../updates/index.ts'
import type { Idempotency } from '../idempotency/index.ts'

/** Lets a caller whose own timeout is shorter than ours (a Data Action's, say) ask for an answer in time. */
export const TIMEOUT_HEADER = 'x-request-timeout-ms'

const participantParams = z.object({ conversationId: genesysId, participantId: genesysId })
const conversationParams = z.object({ conversationId: genesysId })

const timeoutHeader = z
  .string()
  .regex(/^(?:[5-9]\d{2}|[1-9]\d{3,8})$/, 'must be a whole number of milliseconds, at least 500')
  .optional()
  .describe('Answer within this many milliseconds (at most REQUEST_TIMEOUT_MS). Give a Data Action one second less than its own timeout.')

const readHeaders = z.object({ [TIMEOUT_HEADER]: timeoutHeader })
const writeHeaders = z.object({
  [TIMEOUT_HEADER]: timeoutHeader,
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters')
    .optional()
    .describe('A repeat within 24 h with the same key and body, from the same API key, gets the first answer without writing again'),
  prefer: z
    .string()
    .optional()
    .describe('respond-async (RFC 7240): answer 202 once the update is stored, and deliver it in the background; see GET /updates/{id}'),
  'x-signature': z.string().optional().describe('t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">; required for API keys with a signing secret'),
  'webhook-id': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters')
    .optional()
    .describe('Standard Webhooks message id. Signed with webhook-timestamp and webhook-signature; a redelivery with the same id acts as a repeated Idempotency-Key (which wins when both are sent)'),
  'webhook-timestamp': z.string().optional().describe('Standard Webhooks: unix seconds at signing; more than 300 s away from now is refused'),
  'webhook-signature': z
    .string()
    .optional()
    .describe(
      'Standard Webhooks: space-separated v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">, keyed by the base64 bytes after whsec_; ' +
        'any one valid entry passes. For API keys with a whsec_ signing secret, instead of X-Signature'
    ),
})

// Strict, as bodies are: a misspelt parameter (`dryrun`) is refused, not ignored.
const dryRunQuery = z
  .object({
    dryRun: z
      .enum(['true', 'false'])
      .optional()
      .transform((v) => v === 'true')
      .describe('Validate, read and merge, and answer with the would-be map; write nothing'),
  })
  .strict()

const readQuery = z
  .object({
    keys: z
      .string()
      .regex(/[^,]/, 'must name at least one attribute; leave the parameter out for all of them')
      .optional()
      .describe('Comma-separated attribute names: answer with these only')
      .transform((k) => (k === undefined ? undefined : new Set(k.split(',').filter(Boolean)))),
  })
  .strict()

const attributes = z.record(z.string(), z.string()).describe('The participant\'s full attribute map')

const written = z.object({
  conversationId: z.string(),
  participantId: z.string().describe('The participant written to'),
  attributes: attributes.describe('The full map after the write, including keys other callers set'),
  updated: z.array(z.string()).describe('The keys this request set'),
  coalesced: z.number().int().optional().describe('Callers whose updates went into the same Genesys write'),
  attempts: z.number().int().optional().describe('Genesys writes it took'),
  dryRun: z.literal(true).optional().describe('Present on a dry run: nothing was written'),
})

const read = z.object({ conversationId: z.string(), participantId: z.string(), attributes })

/** Every answer a route can give besides its success, for the API description. */
const problems = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, problemSchema(s)]))
const WRITE_PROBLEMS = problems(400, 401, 403, 404, 408, 409, 413, 415, 421, 422, 431, 500, 502, 503, 504)

// The customer on an inbound call; an outbound call's other party is `external`.
const DEFAULT_PURPOSES = ['customer', 'external'] as const

export interface AttributeRoutesOptions {
  limits: AttributeLimits
  requestTimeoutMs: number
  /** Deadlines are counted on it, as the queue counts them. */
  clock: Clock
  /** The write pipeline (200) and asynchronous delivery (202). */
  updates: Updates
  delivery: AsyncDelivery
  /** A repeat of a request (its Idempotency-Key, or signature) gets the first answer. */
  idempotency: Idempotency
  /**
   * Told of each synchronous write Genesys accepted, and which key made it (the console shows
   * it). A set that listeners join whenever they are registered: none, and nothing is built.
   */
  onWritten?: ReadonlySet<(w: Written) => void> | undefined
}

/** A synchronous write Genesys accepted: which caller set which keys of which participant. */
export interface Written {
  /** The API key's name; undefined with authentication off. */
  caller: string | undefined
  conversationId: string
  participantId: string
  keys: readonly string[]
}

const routes: FastifyPluginAsync<AttributeRoutesOptions> = async (fastify, { limits, requestTimeoutMs, clock, updates, delivery, idempotency, onWritten }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  /** The caller's deadline, counted from the request's arrival: ours, or the shorter one it asked for. */
  const urgency = (req: FastifyRequest, reply: FastifyReply): Urgency => {
    const asked = req.headers[TIMEOUT_HEADER]
    const ms = typeof asked === 'string' ? Math.min(Number(asked), requestTimeoutMs) : requestTimeoutMs
    return { deadline: clock.now() - reply.elapsedTime + ms, priority: req.priority }
  }

  async function write (req: FastifyRequest, reply: FastifyReply, conversationId: string, target: Target, body: UpdateBody, dryRun: boolean) {
    // Participant data may be personal: no proxy keeps a copy.
    reply.cacheControl('no-store')
    const due = urgency(req, reply)
    const updated = Object.keys(body.attributes)
    reply.loggedKeys = updated
    const async = !dryRun && delivery.enabled && prefersAsync(req.headers.prefer)
    if (async) requireOperation(req, 'async')
    else requireOperation(req, 'write', scopeOf(req).may.includes('async') ? '; send Prefer: respond-async to write asynchronously' : '')
    requireAttributes(req, body.field, updated)
    // The answer's map is a read: only what this key may see.
    const scope = scopeOf(req)
    if (dryRun) {
      const current = await updates.preview(conversationId, target, due)
      const attributes = visible(scope, merge(current.attributes, body.attributes))
      return { conversationId, participantId: current.participantId, attributes, updated, dryRun: true as const }
    }
    if (async) {
      // Stored, then 202: a repeat with the same Idempotency-Key gets this 202 and id again.
      // The status and headers are set with the answer, so a repeat gets them as they were.
      return idempotency.once(req, reply, due.deadline, async () => {
        const accepted = await delivery.accept(req.caller ?? '', conversationId, target, body.attributes)
        reply.status(202).header('preference-applied', 'respond-async').header('location', `/updates/${accepted.id}`)
        return accepted
      })
    }
    return idempotency.once(req, reply, due.deadline, async () => {
      // Without a sequence: newer than any asynchronous update accepted before it (order.ts).
      const result = await updates.submit(conversationId, target, { changes: body.attributes, ...due })
      const { participantId, attributes, coalesced, attempts } = result
      if (onWritten !== undefined && onWritten.size > 0) {
        const written: Written = { caller: req.caller, conversationId, participantId, keys: updated }
        for (const listener of onWritten) listener(written)
      }
      return { conversationId, participantId, attributes: visible(scope, attributes), updated, coalesced, attempts }
    })
  }

  app.post(
    '/participants/:conversationId/:participantId/data',
    {
      schema: {
        summary: 'Set attributes on one participant',
        params: participantParams,
        headers: writeHeaders,
        querystring: dryRunQuery,
        body: updateBody(limits),
        response: { 200: written, 202: acceptedSchema, ...WRITE_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { conversationId, participantId } = req.params
      if (req.body.participantId !== undefined && req.body.participantId !== participantId) {
        const message = `does not match the participant id in the URL (${participantId})`
        throw new ApiError('INVALID_BODY', `/participantId: ${message}`, { errors: [{ in: 'body', path: '/participantId', message }] })
      }
      return write(req, reply, conversationId, { participantId }, req.body, req.query.dryRun)
    }
  )

  app.post(
    '/conversations/:conversationId/data',
    {
      schema: {
        summary: 'Set attributes on the conversation\'s customer (or external, or named) participant',
        description:
          'For flows that know only Call.ConversationId. The participant is the one with `purpose` (default: the customer, else the external participant), or `participantId`. ' +
          'None: 404 PARTICIPANT_NOT_FOUND listing the purposes present. Several: 409 PARTICIPANT_AMBIGUOUS listing their ids.',
        params: conversationParams,
        headers: writeHeaders,
        querystring: dryRunQuery,
        body: updateBody(limits, { purpose: true }),
        response: { 200: written, 202: acceptedSchema, ...WRITE_PROBLEMS },
      },
    },
    async (req, reply) => {
      const { participantId, purpose } = req.body
      const target: Target = participantId !== undefined ? { participantId } : { purposes: purpose !== undefined ? [purpose] : DEFAULT_PURPOSES }
      return write(req, reply, req.params.conversationId, target, req.body, req.query.dryRun)
    }
  )

  app.get(
    '/participants/:conversationId/:participantId/data',
    {
      schema: {
        summary: 'Read a participant\'s attributes',
        params: participantParams,
        headers: readHeaders,
        querystring: readQuery,
        response: { 200: read, ...problems(400, 401, 403, 404, 408, 421, 431, 500, 502, 503, 504) },
      },
    },
    async (req, reply) => {
      reply.cacheControl('no-store')
      requireOperation(req, 'read')
      const { conversationId, participantId } = req.params
      const current = await updates.read(conversationId, { participantId }, urgency(req, reply))
      const keys = req.query.keys
      const mine = visible(scopeOf(req), current.attributes)
      const attributes = keys === undefined ? mine : Object.fromEntries(Object.entries(mine).filter(([k]) => keys.has(k)))
      return { conversationId, participantId, attributes }
    }
  )
}

export default routes
