import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { problemSchema, updateNotFound } from '../errors.ts'
import { requireOperation } from '../access/index.ts'
import type { ZodTypeProvider } from '../http/index.ts'
import type { AsyncDelivery } from './service.ts'
import { status, statusWithCallback, view } from './views.ts'

/** GET /updates/{id} and GET /updates?state=failed, behind the API keys: each caller sees its own. */
const routes: FastifyPluginAsync<{ delivery: AsyncDelivery }> = async (fastify, { delivery }) => {
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
      const d = await delivery.get(req.caller ?? '', req.params.id)
      if (d === undefined) throw updateNotFound()
      const callback = await delivery.callback(d)
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
      const page = await delivery.failed(req.caller ?? '', offset, limit)
      return { items: page.items.map(view), ...(page.next !== undefined && { next: `/updates?state=failed&limit=${limit}&offset=${page.next}` }) }
    }
  )
}

export default routes
