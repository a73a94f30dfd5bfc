import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { ApiError, problemSchema } from '../errors.ts'
import { requireOperation } from '../keys/scope.ts'
import type { ZodTypeProvider } from '../plugins/problems.ts'
import type { Delivery } from '../coordination/index.ts'

/** The 202 of an asynchronous write, for the write routes' description. */
export const acceptedSchema = z
  .object({
    id: z.string(),
    state: z.literal('queued'),
    conversationId: z.string(),
    participantId: z.string().optional().describe('Present when the URL named the participant'),
    keys: z.array(z.string()).describe('The keys this update sets'),
    acceptedAt: z.string().describe('ISO 8601'),
    retryOf: z.string().optional().describe('The failed update this one sends again (POST /updates/{id}/retry)'),
  })
  .describe('Accepted (Prefer: respond-async): stored, to be delivered; follow Location for its state')

const status = z.object({
  id: z.string(),
  state: z.enum(['queued', 'retrying', 'written', 'failed']).describe('queued: not tried yet or being tried. retrying: tried, will be again. written: in Genesys Cloud. failed: never will be (see error)'),
  conversationId: z.string(),
  participantId: z.string().optional(),
  keys: z.array(z.string()),
  attempts: z.number().int().describe('Delivery attempts so far'),
  acceptedAt: z.string(),
  settledAt: z.string().optional(),
  error: z.object({ code: z.string(), status: z.number().int(), detail: z.string() }).optional().describe('The problem that settled it failed'),
  retryOf: z.string().optional().describe('The failed update this one sends again'),
})

/** Where the update's outcome callback stands, for a key with a callbackUrl. */
const callbackStatus = z
  .object({
    state: z.enum(['pending', 'delivered', 'failed']).describe('pending: not yet accepted by the receiver (the update may not have settled yet). delivered: the receiver answered 2xx. failed: given up (24 h of retries, a 410 Gone, or the update gone)'),
    attempts: z.number().int(),
    lastStatus: z.number().int().optional().describe('The receiver\'s last HTTP status; 0 when no answer came'),
    lastError: z.string().optional(),
    lastAttemptAt: z.string().optional(),
    nextAttemptAt: z.string().optional(),
    deliveredAt: z.string().optional(),
  })
  .describe('The outcome callback (API_KEYS_FILE callbackUrl)')

const statusWithCallback = status.extend({ callback: callbackStatus.optional() })

export function view (d: Delivery): z.infer<typeof status> {
  return {
    id: d.id,
    state: d.state,
    conversationId: d.conversationId,
    ...(d.participantId !== undefined && { participantId: d.participantId }),
    keys: Object.keys(d.changes),
    attempts: d.attempts,
    acceptedAt: new Date(d.acceptedAt).toISOString(),
    ...(d.settledAt !== undefined && { settledAt: new Date(d.settledAt).toISOString() }),
    // While retrying, the last failure is not what settles it: shown only once it has.
    ...(d.state === 'failed' && d.error !== undefined && { error: d.error }),
    ...(d.retryOf !== undefined && { retryOf: d.retryOf }),
  }
}

/** GET /updates/{id} and GET /updates?state=failed, behind the API keys: each caller sees its own. */
const routes: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  app.get(
    '/updates/:id',
    {
      schema: {
        summary: 'Where an asynchronous update stands',
        params: z.object({ id: z.string().max(100) }),
        response: { 200: statusWithCallback, 401: problemSchema(401), 403: problemSchema(403, ['OPERATION_NOT_ALLOWED']), 404: problemSchema(404, ['UPDATE_NOT_FOUND']) },
      },
    },
    async (req, reply) => {
      reply.cacheControl('no-store')
      requireOperation(req, 'async')
      const d = await app.delivery.get(req.caller ?? '', req.params.id)
      if (d === undefined) throw new ApiError('UPDATE_NOT_FOUND', 'no asynchronous update with this id was submitted with this API key, or it settled more than 24 h ago')
      const callback = await app.delivery.callback(d)
      return { ...view(d), ...(callback !== undefined && { callback }) }
    }
  )
  app.get(
    '/updates',
    {
      schema: {
        summary: 'This API key\'s failed asynchronous updates, newest first',
        description: 'What an integrator may want to send again. Kept 24 h after they failed.',
        querystring: z
          .object({
            state: z.literal('failed', { error: 'must be failed: only failed updates are listed (GET /updates/{id} tells where any one stands)' }),
            limit: z.coerce.number({ error: 'must be a whole number from 1 to 500' }).int('must be a whole number from 1 to 500').min(1, 'must be a whole number from 1 to 500').max(500, 'must be a whole number from 1 to 500').default(50),
            offset: z.coerce.number({ error: 'must be a whole number, 0 or more' }).int('must be a whole number, 0 or more').min(0, 'must be a whole number, 0 or more').default(0),
          })
          .strict(),
        response: {
          200: z.object({ items: z.array(status), next: z.string().optional().describe('The next page, when there is one') }),
          400: problemSchema(400, ['INVALID_QUERY']),
          401: problemSchema(401),
          403: problemSchema(403, ['OPERATION_NOT_ALLOWED']),
        },
      },
    },
    async (req, reply) => {
      reply.cacheControl('no-store')
      requireOperation(req, 'async')
      const { limit, offset } = req.query
      const page = await app.delivery.failed(req.caller ?? '', offset, limit)
      return { items: page.items.map(view), ...(page.next !== undefined && { next: `/updates?state=failed&limit=${limit}&offset=${page.next}` }) }
    }
  )
}

export default routes
