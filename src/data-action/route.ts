import type { FastifyPluginAsync } from 'fastify'
import { exportBase, GUESS_HEADER, guessWarning } from './public-url.ts'
import { z } from 'zod'
import { ApiError, problemSchema } from '../errors.ts'
import type { ZodTypeProvider } from '../http/index.ts'
import { dataAction } from './build.ts'
import { dataActionText } from './options.ts'
import { TERRAFORM_FILE, dataActionTerraform } from './terraform.ts'

// HCL has no registered media type; text/plain is what browsers, curl and proxies show as text,
// and the attachment disposition still makes a browser save it as a .tf file.
const TERRAFORM_TYPE = 'text/plain; charset=utf-8'

export interface DataActionRouteOptions {
  /** PUBLIC_URL; without it the URL is guessed from the request. */
  publicUrl: string | undefined
  /** In sandbox a guess is expected and not warned about. */
  sandbox: boolean
}

/** The same document `npm run -s data-action` prints, for whoever has a browser and an API key. */
const routes: FastifyPluginAsync<DataActionRouteOptions> = async (fastify, { publicUrl, sandbox }) => {
  fastify.withTypeProvider<ZodTypeProvider>().get(
    '/genesys/data-action',
    {
      schema: {
        summary: 'A Genesys Cloud Data Action that calls this service, ready to import or to apply with CX as Code',
        querystring: dataActionText,
        response: {
          200: {
            description: 'format=json: the custom-rest-actions import JSON; format=terraform: HCL for the genesyscloud provider, as an attachment',
            content: {
              'application/json': { schema: z.record(z.string(), z.unknown()).describe('custom-rest-actions export JSON') },
              [TERRAFORM_TYPE]: { schema: z.string().describe(`Terraform configuration (${TERRAFORM_FILE})`) },
            },
          },
          400: problemSchema(400),
          401: problemSchema(401),
        },
      },
    },
    async (req, reply) => {
      const { format, ...options } = req.query
      // A Data Action sends the key it is given to its URL: outside sandbox only this service's
      // own addresses, or a link could make an admin export one that hands the key to another host.
      if (!sandbox && options.baseUrl !== undefined) {
        const same = (u: string) => new URL(u).href.replace(/\/+$/, '')
        const own = [publicUrl, `${req.protocol}://${req.host}`].filter((u) => u !== undefined).map(same)
        if (!own.includes(same(options.baseUrl))) {
          const message = `must be this service's own address: ${publicUrl ?? 'PUBLIC_URL (not set)'}, or the one this request came to (${req.protocol}://${req.host})`
          throw new ApiError('INVALID_QUERY', `/baseUrl: ${message}`, { errors: [{ in: 'query', path: '/baseUrl', message }] })
        }
      }
      const { baseUrl, guessed } = exportBase(options.baseUrl ?? publicUrl, req)
      const warning = guessed && !sandbox ? guessWarning(baseUrl) : undefined
      if (warning !== undefined) reply.header(GUESS_HEADER, warning)
      if (format === 'json') return dataAction({ ...options, baseUrl })
      reply.type(TERRAFORM_TYPE).header('content-disposition', `attachment; filename="${TERRAFORM_FILE}"`)
      const hcl = dataActionTerraform({ ...options, baseUrl })
      return warning === undefined ? hcl : `# WARNING: ${warning}\n${hcl}`
    }
  )
}

export default routes
