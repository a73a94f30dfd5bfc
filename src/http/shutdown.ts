import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { ApiError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Graceful shutdown, before close(): refuse new requests with 503 (readiness included),
     * answer every waiting caller by `by` (epoch ms), then keep refusing until callers have
     * stopped coming, so that close() finds nothing in flight and nobody knocking.
     */
    shutdown(by: number): Promise<void>
  }
}

/** During shutdown, how long no request must arrive before the listener closes. */
const QUIET_MS = 250

/** Open, then closing: every request from then on is answered 503 SHUTTING_DOWN by one hook. */
export default fp<{ drain: (by: number) => Promise<void> }>(
  async (app, { drain }) => {
    let closing = false
    let lastRefused = 0
    app.decorate('shutdown', async (by: number) => {
      closing = true
      // The services stop taking work in the background and answer every waiting caller (services.ts).
      await drain(by)
      // A client (or load balancer) that was just answered 503 moves on; one whose request was in
      // flight until now sends its next one here. Closing the listener under it would turn that
      // into a refused or reset connection, so wait for a quiet moment, up to the limit.
      while (Date.now() - lastRefused < QUIET_MS && Date.now() + QUIET_MS < by) await sleep(QUIET_MS / 5)
    })
    app.addHook('preClose', async () => {
      closing = true
    })
    // Callback style: this runs on every request, and an async hook costs a promise each time.
    app.addHook('onRequest', (_req, reply, done) => {
      if (!closing) return done()
      lastRefused = Date.now()
      // The connection goes too, so a keep-alive client finds another instance for its next request.
      reply.header('connection', 'close')
      done(new ApiError('SHUTTING_DOWN', 'not accepting new requests; send it to another instance', { retryAfter: 1 }))
    })
  },
{ name: 'shutdown' }
)
