import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { genesysId, updateBody, type AttributeLimits } from '../attributes/body.js'
import { ApiError } from '../errors.js'
import type { ZodTypeProvider } from '../validation.js'

const params = z.object({ conversationId: genesysId, participantId: genesysId })

/** Lets a caller whose own timeout is shorter than ours (a Data Action's, say) ask for an answer in time. */
export const TIMEOUT_HEADER = 'x-request-timeout-ms'

/** The caller's deadline: ours, or the shorter one it asked for. */
function timeoutMs(header: string | string[] | undefined, max: number): number {
  if (header === undefined) return max
  const ms = typeof header === 'string' && /^\d{1,9}$/.test(header) ? Number(header) : NaN
  if (!(ms >= 100)) {
    const message = 'must be a whole number of milliseconds, at least 100'
    throw new ApiError('INVALID_HEADER', `${TIMEOUT_HEADER}: ${message}`, { errors: [{ in: 'header', path: `/${TIMEOUT_HEADER}`, message }] })
  }
  return Math.min(ms, max)
}

export interface ParticipantRoutesOptions {
  limits: AttributeLimits
  requestTimeoutMs: number
}

const participants: FastifyPluginAsync<ParticipantRoutesOptions> = async (fastify, { limits, requestTimeoutMs }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.post('/participants/:conversationId/:participantId/data', { schema: { params, body: updateBody(limits) } }, async (req, reply) => {
    const { conversationId, participantId } = req.params
    const { attributes, participantId: named } = req.body
    if (named !== undefined && named.toLowerCase() !== participantId) {
      throw new ApiError('INVALID_BODY', '/participantId: does not match the participant id in the URL', {
        errors: [{ in: 'body', path: '/participantId', message: `does not match the participant id in the URL (${participantId})` }],
      })
    }
    // Counted from the request's arrival, so time spent reading the body is not given twice.
    const deadline = Date.now() - reply.elapsedTime + timeoutMs(req.headers[TIMEOUT_HEADER], requestTimeoutMs)
    const result = await app.updates.submit(conversationId, participantId, { changes: attributes, deadline, priority: req.priority })
    reply.cacheControl('no-store') // participant data may be personal: no proxy keeps a copy
    return {
      conversationId,
      participantId,
      attributes: result.attributes,
      updated: Object.keys(attributes),
      coalesced: result.coalesced,
      attempts: result.attempts,
    }
  })
}

export default participants
