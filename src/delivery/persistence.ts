import type { FastifyBaseLogger } from 'fastify'
import { Cluster } from 'ioredis'
import { Gauge, type Registry } from 'prom-client'
import type { RedisClient } from '../coordination/index.ts'

/**
 * Whether Redis keeps what it was given across its own restart: `aof` (the append-only file is
 * on, on every primary), `none` (a primary without it loses, when it restarts, every update it
 * accepted since its last snapshot, if it takes any), or `unknown` (Redis did not say).
 */
export type Persistence = 'aof' | 'none' | 'unknown'

const STATES: Persistence[] = ['aof', 'none', 'unknown']

/**
 * Asks every primary with INFO, not CONFIG GET: managed services (ElastiCache, Memorystore) refuse
 * CONFIG but answer INFO, and `aof_enabled` is what the server does now, whatever its file says.
 */
export async function redisPersistence (redis: RedisClient): Promise<Persistence> {
  const primaries = redis instanceof Cluster ? redis.nodes('master') : [redis]
  if (primaries.length === 0) return 'unknown'
  const answers = await Promise.all(primaries.map(async (node) => {
    try {
      const aof = (await node.info('persistence')).match(/^aof_enabled:(\d)/m)?.[1]
      return aof === undefined ? 'unknown' : aof === '1' ? 'aof' : 'none'
    } catch {
      return 'unknown' // unreachable, or INFO refused (an ACL)
    }
  }))
  if (answers.includes('none')) return 'none'
  return answers.includes('unknown') ? 'unknown' : 'aof'
}

/**
 * The promise of a 202 (stored durably) holds only if Redis persists: says so loudly at start-up,
 * and at every scrape as `pdg_redis_persistence{state}` (1 for the state Redis is in), so an
 * alert can page on a Redis that was restarted without its AOF.
 */
export async function watchPersistence (redis: RedisClient, registry: Registry, log: FastifyBaseLogger): Promise<void> {
  registry.registerMetric(new Gauge({
    name: 'pdg_redis_persistence',
    help: 'Whether Redis keeps accepted asynchronous updates across its restart: 1 for its state, aof (append-only file on every primary), none, or unknown (it did not say)',
    labelNames: ['state'] as const,
    registers: [],
    async collect () {
      const now = await redisPersistence(redis)
      for (const state of STATES) this.labels(state).set(state === now ? 1 : 0)
    },
  }))
  const persistence = await redisPersistence(redis)
  if (persistence === 'none') {
    log.warn('REDIS DOES NOT PERSIST (appendonly no): an asynchronous update answered 202 is lost if Redis restarts before it is delivered; run Redis with appendonly yes')
  } else if (persistence === 'unknown') {
    log.warn('could not tell whether Redis persists (INFO persistence did not answer): asynchronous updates are durable only if it runs with appendonly yes')
  }
}
