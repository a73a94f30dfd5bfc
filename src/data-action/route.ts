import type { FastifyPluginAsync } from 'fastify'
import { exportBase, GUESS_HEADER, guessWarning } from './public-url.js'
import { z } from 'zod'
import { problemSchema } from '../errors.js'
import type { ZodTypeProvider } from '../plugins/problems.js'
import { dataAction } from './build.js'
import { dataActionText } from './options.js'
import { TERRAFORM_FILE, dataActionTerraform } from './terraform.js'

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
