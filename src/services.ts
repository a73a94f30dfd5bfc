/**
 * The service's parts, composed outside Fastify: what replicas share (src/coordination/), the
 * Genesys client and its token with the write pipeline (src/updates/), and asynchronous delivery
 * (src/delivery/). app.ts gives each route plugin what it uses, as options; nothing looks another
 * part up. Starting and closing them happens here, in one place.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Dispatcher } from 'undici'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import { connectRedis, createStores, type Stores } from './coordination/index.ts'
import { createDelivery, type AsyncDelivery } from './delivery/index.ts'
import type { TokenProvider } from './genesys/index.ts'
import type { Metrics } from './observability/index.ts'
import { createPipeline, type Updates } from './updates/index.ts'

export interface ServiceDeps {
  clock: Clock
  log: FastifyBaseLogger
  metrics: Metrics
  /** Tests pass their own to control the network; otherwise one keep-alive pool per origin. */
  dispatcher?: Dispatcher | undefined
}

export interface Services {
  stores: Stores
  tokens: TokenProvider
  updates: Updates
  delivery: AsyncDelivery
  /** The background work begins (the org's limit is read); the service answers meanwhile. */
  start(): void
  /** Shutdown: no new work is taken in the background, and every waiting caller is answered by `by` (epoch ms). */
  drain(by: number): Promise<void>
  /** Everything closes: delivery's work under way is waited for, then timers, connection pools, Redis. */
  close(): Promise<void>
}

export async function createServices (config: Config, deps: ServiceDeps): Promise<Services> {
  const { clock, log, metrics } = deps
  const redis = await connectRedis({ url: config.redisUrl, cluster: config.redisCluster, clientId: config.genesys.clientId }, log)
  // Every store replicas share, in Redis or in this process: chosen here, once.
  const stores = createStores(redis, {
    clock,
    lockLeaseMs: config.lockLeaseMs,
    tokenFetchMs: config.genesys.timeoutMs,
    idempotency: { maxKeys: config.idempotencyMaxKeys, pendingMs: config.requestTimeoutMs + config.genesys.timeoutMs },
    maxReplays: config.idempotencyMaxKeys,
    deliveryMaxAgeMs: config.delivery.maxAgeMs,
  })
  // With Redis the updates are stored there and every replica delivers them. Without it, the
  // preference is not applied in production (RFC 7240 lets a server ignore it: a 202 could not
  // survive the process); elsewhere updates are kept in memory, and start-up says so.
  const asynchronous = redis !== undefined || config.env !== 'production'
  const pipeline = createPipeline({
    genesys: config.genesys,
    queue: config.queue,
    endedConversationWrites: config.endedConversationWrites,
    asynchronous,
    tracing: config.tracing.enabled,
    dispatcher: deps.dispatcher,
    clock,
    stores,
    metrics,
    log,
  })
  const { updates } = pipeline
  const delivery = await createDelivery({ config, clock, stores, updates, metrics, log, enabled: asynchronous }).catch(async (err: unknown) => {
    // A refused configuration (a callback URL, say): what was opened is closed before the error goes up.
    await pipeline.close()
    await redis?.close()
    throw err
  })
  return {
    stores,
    tokens: pipeline.tokens,
    updates: pipeline.updates,
    delivery: delivery.delivery,
    start: () => pipeline.start(),
    drain: async (by) => {
      delivery.stop()
      await pipeline.updates.close(by)
    },
    close: async () => {
      // Each step even if one before it failed: Redis is quit whatever else went wrong.
      try {
        await delivery.close()
      } finally {
        try {
          await pipeline.close()
        } finally {
          await redis?.close()
        }
      }
    },
  }
}
