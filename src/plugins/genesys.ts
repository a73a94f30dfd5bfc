import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { Agent, type Dispatcher } from 'undici'
import type { Config } from '../config.js'
import { GenesysClient } from '../genesys/client.js'
import { TokenProvider } from '../genesys/token.js'
import { UpdateQueue } from '../updates/queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenProvider
    updates: UpdateQueue
  }
}

export interface GenesysPluginOptions {
  config: Config['genesys']
  /** Tests pass their own to control the network; otherwise one keep-alive pool per origin. */
  dispatcher?: Dispatcher
  now?: () => number
}

export default fp<GenesysPluginOptions>(
  async (app, { config, dispatcher, now }) => {
    const owned = dispatcher === undefined
    const net = dispatcher ?? new Agent({ connections: 128, keepAliveTimeout: 10_000 })
    const http = { dispatcher: net, timeoutMs: config.timeoutMs }
    const tokens = new TokenProvider({ ...http, loginUrl: config.loginUrl, clientId: config.clientId, clientSecret: config.clientSecret, now })
    const genesys = new GenesysClient({ ...http, apiUrl: config.apiUrl, tokens })
    app.decorate('tokens', tokens)
    // A lost PATCH cannot outlive our own wait for its answer by much.
    const unknownOutcomePause = () => sleep(config.timeoutMs)
    app.decorate('updates', new UpdateQueue(genesys, { conflictRetries: config.conflictRetries, unknownOutcomePause }))
    if (owned) app.addHook('onClose', () => net.close())
  },
  { name: 'genesys' },
)
