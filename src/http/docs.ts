import { readFileSync } from 'node:fs'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import { DOCS_CSP } from './csp.ts'

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

/**
 * The API description, generated from the zod schemas that validate requests, so it cannot
 * drift from what the service accepts: /openapi.json, and a browsable copy at /docs. Register
 * before the routes, which it collects as they are added.
 */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Participant data gateway',
          version,
          description:
            'Sets custom participant attributes ("participant data") on live Genesys Cloud conversations, serialized per conversation. ' +
            'Every non-2xx answer is application/problem+json with a stable `code`.',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <one of API_KEYS>' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
            basic: { type: 'http', scheme: 'basic', description: 'Any user name; one of API_KEYS as the password (the Data Action basicAuth credential)' },
          },
        },
        security: [{ bearer: [] }, { apiKey: [] }, { basic: [] }],
      },
      transform: jsonSchemaTransform,
      // Failures are answered as application/problem+json; say so.
      transformObject: (doc) => {
        if (!('openapiObject' in doc)) return doc.swaggerObject
        const { openapiObject } = doc
        for (const path of Object.values(openapiObject.paths ?? {})) {
          for (const op of Object.values(path as Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>)) {
            for (const [status, res] of Object.entries(op.responses ?? {})) {
              if (Number(status) >= 400 && res.content?.['application/json'] !== undefined) {
                res.content = { 'application/problem+json': res.content['application/json'] }
              }
            }
          }
        }
        return openapiObject
      },
    })
    // The console's policy: no script from elsewhere, no framing (clickjacking), nothing inline.
    await app.register(swaggerUi, { routePrefix: '/docs', logLevel: 'silent', staticCSP: DOCS_CSP })
    app.get('/openapi.json', { schema: { hide: true }, logLevel: 'silent' }, async () => app.swagger())
  },
  { name: 'docs' }
)
