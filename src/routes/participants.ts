import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { genesysId, updateBody, type AttributeLimits } from '../attributes/body.js'
import { ApiError } from '../errors.js'
import type { ZodTypeProvider } from '../validation.js'

const params = z.object({ conversationId: genesysId, participantId: genesysId })

const participants: FastifyPluginAsync<{ limits: AttributeLimits }> = async (fastify, { limits }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>()

  app.post('/participants/:conversationId/:participantId/data', { schema: { params, body: updateBody(limits) } }, async (req, reply) => {
    const { conversationId, participantId } = req.params
    const { attributes, participantId: named } = req.body
    if (named !== undefined && named.toLowerCase() !== participantId) {
      throw new ApiError('INVALID_BODY', '/participantId: does not match the participant id in the URL', {
        errors: [{ in: 'body', path: '/participantId', message: `does not match the participant id in the URL (${participantId})` }],
      })
    }
    const result = await app.updates.submit(conversationId, participantId, attributes)
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
