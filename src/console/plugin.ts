import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { runDoctor } from '../doctor/doctor.js'
import type { Simulator } from '../sim/simulator.js'
import { consoleRoutes } from './routes.js'
import { Sessions } from './session.js'
import { genesysSource, simulatorSource } from './source.js'
import { ANONYMOUS, WriteLog } from './writes.js'

export interface ConsoleOptions {
  config: Config
  /** Sandbox mode's in-process simulator: the console lists and reads its conversations. */
  sim?: Simulator | undefined
}

const WRITE_ROUTES = new Set(['/participants/:conversationId/:participantId/data', '/conversations/:conversationId/data'])

interface Written {
  conversationId?: unknown
  participantId?: unknown
  updated?: unknown
  dryRun?: unknown
}

/**
 * The browser console at /console: on in sandbox mode, else only with CONSOLE=1, and then behind
 * the API keys (see session.ts). Register it before the API's routes: it notes, for every write
 * that goes through the service, which API key set which keys, to show beside the values.
 */
export default fp<ConsoleOptions>(
  async (app, { config, sim }) => {
    const sandbox = config.mode === 'sandbox'
    if (!sandbox && !config.console) return
    const writes = new WriteLog()
    const source = sim !== undefined
      ? simulatorSource(sim)
      : genesysSource(app.updates, { minIntervalMs: 2000, timeoutMs: Math.min(config.requestTimeoutMs, 5000) })

    // The answer object, before it becomes text: the participant a conversation-level write
    // found is in it, and nothing has to be parsed. Callback style: it runs on every answer.
    app.addHook('preSerialization', (req, reply, payload: Written, done) => {
      if (reply.statusCode === 200 && req.method === 'POST' && WRITE_ROUTES.has(req.routeOptions.url ?? '') && payload.dryRun !== true) {
        const { conversationId, participantId, updated } = payload
        if (typeof conversationId === 'string' && typeof participantId === 'string' && Array.isArray(updated)) {
          writes.record(conversationId, participantId, updated as string[], req.caller ?? ANONYMOUS, Date.now())
          source.changed(conversationId)
        }
      }
      done(null, payload)
    })

    const sessions = new Sessions(config.apiKeys, Date.now, config.genesys.clientSecret)
    const doctor = (probe?: { conversationId: string; participantId: string }) => runDoctor(config, { sandbox, probe, budget: () => app.updates.budget() })
    await app.register(consoleRoutes, { sandbox, publicUrl: config.publicUrl, doctor, sessions, authOn: config.apiKeys.length > 0, source, writes })
  },
  { name: 'console', dependencies: ['metrics', 'updates'] }
)
