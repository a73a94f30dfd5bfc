import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { problemSchema } from '../errors.js'
import type { ZodTypeProvider } from '../plugins/problems.js'
import { dataAction } from './build.js'
import { dataActionText } from './options.js'

/** The same document `npm run -s data-action` prints, for whoever has a browser and an API key. */
const routes: FastifyPluginAsync = async (fastify) => {
  fastify.withTypeProvider<ZodTypeProvider>().get(
    '/genesys/data-action',
    {
      schema: {
        summary: 'A Genesys Cloud Data Action that calls this service, ready to import',
        querystring: dataActionText,
        response: { 200: z.record(z.string(), z.unknown()).describe('custom-rest-actions export JSON'), 400: problemSchema(400), 401: problemSchema(401) },
      },
    },
    async (req) => dataAction({ ...req.query, baseUrl: req.query.baseUrl ?? `${req.protocol}://${req.host}` })
  )
}

export default routes
