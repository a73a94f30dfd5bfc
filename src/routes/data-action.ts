import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import { dataAction, dataActionOptions } from '../data-action.js'
import { problemSchema } from '../errors.js'
import type { ZodTypeProvider } from '../plugins/problems.js'

/** The same document `npm run data-action` prints, for whoever has a browser and an API key. */
const routes: FastifyPluginAsync = async (fastify) => {
  fastify.withTypeProvider<ZodTypeProvider>().get(
    '/genesys/data-action',
    {
      schema: {
        summary: 'A Genesys Cloud Data Action that calls this service, ready to import',
        querystring: z.object({
          attributes: z
            .string()
            .describe('Comma-separated attribute names, e.g. customer_tier,crm_id')
            .transform((a) => a.split(',').map((x) => x.trim()))
            .pipe(dataActionOptions.shape.attributes),
          conversationOnly: z.enum(['true', 'false']).default('false').describe('Input only the conversation id; the service finds the customer'),
          timeoutSeconds: z.coerce.number().int().min(2).max(60).default(10).describe("The action's timeout in seconds, 2 to 60"),
          baseUrl: dataActionOptions.shape.baseUrl.optional().describe('Where flows reach this service; default: the address this request came to'),
        }),
        response: { 200: z.record(z.string(), z.unknown()).describe('custom-rest-actions export JSON'), 400: problemSchema(400), 401: problemSchema(401) },
      },
    },
    async (req) => {
      const q = req.query
      return dataAction({
        baseUrl: q.baseUrl ?? `${req.protocol}://${req.host}`,
        attributes: q.attributes,
        conversationOnly: q.conversationOnly === 'true',
        timeoutSeconds: q.timeoutSeconds,
      })
    },
  )
}

export default routes
