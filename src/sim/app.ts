// The simulator's Fastify instance: body parsing, the headers every answer carries, the request log.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { SimSettings } from './options.ts'
import type { SimRequest } from './stats.ts'

/** `requests` receives every API request (GET and PATCH) when `recordRequests` is set. */
export function simulatorApp ({ logger, clock, recordRequests }: SimSettings, requests: SimRequest[]): FastifyInstance {
  const app = Fastify({ logger })
  // The token endpoint takes a form, as OAuth's client-credentials grant is sent.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // Every Genesys answer carries a correlation id; support asks for it.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('inin-correlation-id', randomUUID())
  })
  if (recordRequests) {
    const entries = new WeakMap<FastifyRequest, SimRequest>()
    app.addHook('onRequest', async (req) => {
      if ((req.method === 'GET' || req.method === 'PATCH') && req.url.startsWith('/api/')) {
        const entry = { at: clock(), method: req.method, path: req.url.replace(/\?.*/, ''), status: 0 }
        requests.push(entry)
        entries.set(req, entry)
      }
    })
    // A dropped request is never sent, so its status stays 0.
    app.addHook('onSend', async (req, reply) => {
      const entry = entries.get(req)
      if (entry !== undefined) entry.status = reply.statusCode
    })
  }
  return app
}
