import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { Redis, type Cluster, type RedisOptions } from 'ioredis'

/** One Redis server (REDIS_URL) or a Redis Cluster: whatever the replicas coordinate through. */
export type RedisClient = Redis | Cluster

declare module 'fastify' {
  interface FastifyInstance {
    /** Set in multi-replica mode (REDIS_URL): what replicas coordinate through. */
    redis: RedisClient | undefined
    /**
     * A new client to the same Redis with these options on top, for a library that needs its
     * own connections (BullMQ's blocking ones); undefined without Redis.
     */
    redisConnect: ((options: RedisOptions) => RedisClient) | undefined
    /**
     * Prefix of every key this deployment uses: its OAuth client id, since Genesys counts the
     * rate per client and deployments for different orgs may share one Redis.
     */
    redisPrefix: string
  }
}

/**
 * The Redis connection for multi-replica mode. Commands fail at once while Redis is unreachable
 * (no offline queue), so callers get a prompt 503 rather than a wait until their deadline, and
 * the client reconnects by itself, so the service recovers when Redis does.
 */
export default fp<{ url: string | undefined; clientId: string }>(
  async (app, { url, clientId }) => {
    app.decorate('redisPrefix', `pdg:${clientId}:`)
    if (url === undefined) {
      app.decorate('redis', undefined)
      app.decorate('redisConnect', undefined)
      return
    }
    app.decorate('redisConnect', (options: RedisOptions) => new Redis(url, options))
    const redis = new Redis(url, {
      enableOfflineQueue: false,
      // Commands issued in one tick (many requests' worth, under load) go out in one socket write.
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    })
    let down = false
    redis.on('ready', () => {
      down = false
      app.log.info('redis connected')
    })
    redis.on('error', (err) => {
      // Once per outage, not once per reconnect attempt.
      if (!down) app.log.warn({ err: err.message }, 'redis unreachable; writes are refused until it is back')
      down = true
    })
    // Start even if Redis is down (readiness says so), but give it a moment to connect first.
    await Promise.race([once(redis, 'ready').catch(() => {}), sleep(2000)])
    app.decorate('redis', redis)
    app.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: 'redis' }
)

/**
 * A Lua script run by its SHA1 (EVALSHA): on a hot path, only 40 characters cross the wire
 * instead of the whole script. A server that does not know it yet (first use, a restart, another
 * cluster node) answers NOSCRIPT, and gets the script once by EVAL, which also caches it there.
 */
export function script (lua: string): (redis: RedisClient, keys: string[], args: Array<string | number>) => Promise<unknown> {
  const sha = createHash('sha1').update(lua).digest('hex')
  return async (redis, keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      return redis.eval(lua, keys.length, ...keys, ...args)
    }
  }
}
