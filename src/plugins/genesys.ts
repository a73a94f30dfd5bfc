import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { Agent, type Dispatcher } from 'undici'
import type { Config } from '../config.js'
import { RateBudget } from '../genesys/budget.js'
import { GenesysClient } from '../genesys/client.js'
import type { HttpOptions } from '../genesys/http.js'
import { TokenProvider } from '../genesys/token.js'
import { RedisConversationLock } from '../redis/lock.js'
import { RedisTokenStore } from '../redis/token-store.js'
import { UpdateQueue } from '../updates/queue.js'
import { RetryPolicy } from '../updates/retry.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenProvider
    updates: UpdateQueue
  }
}

export interface GenesysPluginOptions {
  config: Config
  /** Tests pass their own to control the network; otherwise one keep-alive pool per origin. */
  dispatcher?: Dispatcher
  now?: () => number
}

export default fp<GenesysPluginOptions>(
  async (app, { config, dispatcher, now }) => {
    const { genesys: g, queue } = config
    const owned = dispatcher === undefined
    const net = dispatcher ?? new Agent({ connections: 128, keepAliveTimeout: 10_000 })
    const { metrics, log } = app
    const http: HttpOptions = {
      dispatcher: net,
      timeoutMs: g.timeoutMs,
      // Each Genesys call once: in the metrics, and in the log at debug (at info the request
      // line says enough, and the hot path stays lean).
      onExchange: ({ op, status, ms, correlationId }) => {
        metrics.upstreamSeconds.labels(op, status === 0 ? 'network' : String(status)).observe(ms / 1000)
        // Built only when it will be written: this runs for every Genesys call.
        if (log.level === 'debug' || log.level === 'trace') log.debug({ upstream: op, status, ms: Math.round(ms), correlationId }, 'genesys')
      },
    }
    // With Redis (several replicas): one token, one request budget and one writer per
    // conversation for all of them. Without it, this process's own.
    const { redis, redisPrefix: prefix } = app
    const store = redis && new RedisTokenStore(redis, prefix, g.timeoutMs)
    const onRefresh = (ok: boolean) => metrics.tokenRefreshes.labels(ok ? 'ok' : 'failed').inc()
    const tokens = new TokenProvider({ ...http, loginUrl: g.loginUrl, clientId: g.clientId, clientSecret: g.clientSecret, now, store, onRefresh })
    const client = new GenesysClient({ ...http, apiUrl: g.apiUrl, tokens })
    app.decorate('tokens', tokens)
    app.decorate(
      'updates',
      new UpdateQueue(client, {
        mode: g.writeMode,
        policy: new RetryPolicy({ conflictRetries: g.conflictRetries }),
        budget: new RateBudget({
          ...g.rateLimit,
          limiter: redis && ((o) => new RateLimiterRedis({ ...o, keyPrefix: `${prefix}${o.keyPrefix}`, storeClient: redis, rejectIfRedisNotReady: true })),
          onWait: (p) => metrics.budgetWaits.labels(p).inc(),
          onRefuse: (p) => metrics.budgetRefusals.labels(p).inc(),
        }),
        lock: redis && new RedisConversationLock(redis, { prefix, leaseMs: config.lockLeaseMs }),
        maxPerConversation: queue.maxPerConversation,
        maxTotal: queue.maxTotal,
        // A lost PATCH cannot outlive our own wait for its answer by much.
        unknownOutcomePause: () => sleep(g.timeoutMs),
        onRetry: (r) => {
          metrics.retries.labels(r.cause).inc()
          log.debug(r, 'retrying upstream')
        },
        onWrite: (coalesced) => metrics.batchSize.observe(coalesced),
      }),
    )
    // By the time this runs every request has been answered; a write still on the wire has
    // nobody waiting for it, so there is nothing to wait for.
    if (owned) app.addHook('onClose', () => net.destroy())
  },
  { name: 'genesys', dependencies: ['redis', 'metrics'] },
)
