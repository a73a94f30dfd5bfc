import { randomUUID } from 'node:crypto'
import { trace } from '@opentelemetry/api'
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
import type { Attributes } from '../attributes/body.js'
import type { Config } from '../config.js'
import { ApiError, coordinationUnavailable, overloaded } from '../errors.js'
import type { Target } from '../updates/ports.js'
import { MemoryDeliveryStore } from './memory.js'
import { Pacer } from './pace.js'
import type { Delivery, DeliveryStore, Page } from './store.js'
import { BullScheduler } from './bullmq.js'
import { watchPersistence } from './persistence.js'
import { RedisDeliveryStore } from './redis.js'
import { DeliveryTracing } from './tracing.js'
import { Deliverer, LocalScheduler, type Scheduler } from './worker.js'

/** What a 202 says. */
export interface Accepted {
  id: string
  state: 'queued'
  conversationId: string
  participantId?: string
  keys: string[]
  acceptedAt: string
}

export interface AsyncDelivery {
  /** False where no store can keep the promise a 202 makes (production without Redis). */
  readonly enabled: boolean
  /** Stores the update, starts its delivery, and says what to answer; OVERLOADED past the backlog. */
  accept(caller: string, conversationId: string, target: Target, changes: Attributes): Promise<Accepted>
  /** The caller's own update; undefined for anyone else's, as for none. */
  get(caller: string, id: string): Promise<Delivery | undefined>
  failed(caller: string, offset: number, limit: number): Promise<Page>
  /** The caller's latest updates in any state, newest first (the console shows them). */
  recent(caller: string, limit: number, conversationId?: string): Promise<Delivery[]>
}

/** Each rescue sweep reads at most this many pages of this many waiting updates. */
const RESCUE_PAGES = 10
const RESCUE_PAGE = 500

declare module 'fastify' {
  interface FastifyInstance {
    delivery: AsyncDelivery
  }
}

function metricsOf (app: { metrics: { registry: import('prom-client').Registry } }, store: DeliveryStore, pacer: Pacer) {
  const registers = [app.metrics.registry]
  const m = {
    accepted: new Counter({ name: 'pdg_async_accepted_total', help: 'Asynchronous updates accepted (202)', registers }),
    written: new Counter({ name: 'pdg_async_written_total', help: 'Asynchronous updates written to Genesys Cloud', registers }),
    failed: new Counter({ name: 'pdg_async_failed_total', help: 'Asynchronous updates settled failed, by code', labelNames: ['code'] as const, registers }),
    retried: new Counter({ name: 'pdg_async_retries_total', help: 'Asynchronous delivery attempts that will be tried again, by code', labelNames: ['code'] as const, registers }),
  }
  // Read when /metrics is scraped.
  app.metrics.registry.registerMetric(new Gauge({
    name: 'pdg_async_backlog',
    help: 'Asynchronous updates accepted and not yet settled',
    registers: [],
    async collect () {
      this.set(await store.backlog())
    },
  }))
  app.metrics.registry.registerMetric(new Gauge({
    name: 'pdg_async_attempt_limit',
    help: 'Delivery attempts this replica starts at once now: fewer while its event loop is busy',
    registers: [],
    collect () {
      this.set(pacer.limit)
    },
  }))
  app.metrics.registry.registerMetric(new Gauge({
    name: 'pdg_async_oldest_age_seconds',
    help: 'Age of the oldest asynchronous update not yet settled (0 when none)',
    registers: [],
    async collect () {
      const oldest = await store.oldestPending()
      this.set(oldest === undefined ? 0 : (Date.now() - oldest) / 1000)
    },
  }))
  return m
}

/**
 * Asynchronous delivery (`Prefer: respond-async`): intake, status and the workers. With Redis the
 * updates are stored there and delivered by BullMQ workers on every replica. Without it, the
 * preference is not applied in production (RFC 7240 lets a server ignore it: a 202 could not
 * survive the process); elsewhere updates are kept in memory, and start-up says so.
 */
export default fp<{ config: Config; clock?: (() => number) | undefined }>(
  async (app, { config, clock = Date.now }) => {
    const { maxAgeMs, maxBacklog, rescueMs } = config.delivery
    const { redis } = app
    if (redis === undefined && config.env === 'production') {
      app.log.warn('Prefer: respond-async is not applied without REDIS_URL: every write is answered synchronously')
      app.decorate('delivery', {
        enabled: false,
        accept: () => Promise.reject(new Error('asynchronous delivery is off')),
        get: async () => undefined,
        failed: async () => ({ items: [] }),
        recent: async () => [],
      } satisfies AsyncDelivery)
      return
    }
    const store: DeliveryStore = redis ? new RedisDeliveryStore(redis, { prefix: app.redisPrefix, maxAgeMs, clock }) : new MemoryDeliveryStore({ clock })
    // With Redis, an attempt this replica turns away goes back to BullMQ, for a replica with time to spare.
    const pacer = new Pacer({ max: config.delivery.concurrency, shed: redis !== undefined })
    const m = metricsOf(app, store, pacer)
    const tracing = config.tracing.enabled ? new DeliveryTracing(trace.getTracer('participant-data-gateway')) : undefined
    const deliverer = new Deliverer(app.updates, store, {
      tracing,
      pacer,
      maxAgeMs,
      clock,
      onWritten: () => m.written.inc(),
      onFailed: (d) => m.failed.labels(d.error!.code).inc(),
      onRetry: (_d, code) => m.retried.labels(code).inc(),
    })
    let scheduler: Scheduler
    if (redis) {
      scheduler = new BullScheduler(deliverer, {
        connect: () => app.redisConnect!({ maxRetriesPerRequest: null }),
        // BullMQ's keys, under one cluster slot tag: its scripts touch several at once.
        prefix: `{${app.redisPrefix}bull}`,
        pacer,
        onError: (err) => app.log.warn({ err: (err as Error).message }, 'asynchronous delivery: Redis error'),
      })
      app.log.info('asynchronous updates (Prefer: respond-async) are stored in Redis and delivered by every replica')
      await watchPersistence(redis, app.metrics.registry, app.log)
    } else {
      scheduler = new LocalScheduler(deliverer, (err, conversationId) => app.log.error({ err, conversationId }, 'could not record the outcome of asynchronous updates'))
      app.log.warn('asynchronous updates (Prefer: respond-async) are kept in memory: NOT durable, lost if this process stops; set REDIS_URL for durable delivery')
    }
    /** Stores an update and queues its conversation's delivery; `traceparent` only when tracing is on. */
    async function intake (id: string, caller: string, conversationId: string, target: Target, changes: Attributes, traceparent?: string): Promise<Accepted> {
      const acceptedAt = clock()
      let d: Delivery
      try {
        d = { id, caller, state: 'queued', conversationId, target, changes, seq: await app.updates.sequence(conversationId), attempts: 0, acceptedAt }
        if ('participantId' in target) d.participantId = target.participantId
        if (traceparent !== undefined) d.traceparent = traceparent
        // Both in Redis before the 202: the update (with its status), then its conversation's job.
        const added = await store.add(d, maxBacklog)
        if (added === 'full') throw overloaded(`ASYNC_MAX_BACKLOG (${maxBacklog}) asynchronous updates are waiting to be delivered`)
        const stored = d
        // Under load most updates join an attempt already queued for their conversation, and cost no job.
        if (added === 'stored') {
          await scheduler.enqueue(conversationId).catch(async (err: unknown) => {
            await store.discard(stored).catch(() => {})
            throw err
          })
        }
      } catch (err) {
        throw err instanceof ApiError ? err : coordinationUnavailable(err)
      }
      m.accepted.inc()
      const { participantId } = d
      return { id, state: 'queued', conversationId, ...(participantId !== undefined && { participantId }), keys: Object.keys(changes), acceptedAt: new Date(d.acceptedAt).toISOString() }
    }
    app.decorate('delivery', {
      enabled: true,
      accept (caller, conversationId, target, changes) {
        const id = randomUUID()
        if (tracing === undefined) return intake(id, caller, conversationId, target, changes)
        return tracing.send(id, (traceparent) => intake(id, caller, conversationId, target, changes, traceparent))
      },
      async get (caller, id) {
        const d = await store.get(id)
        return d?.caller === caller ? d : undefined
      },
      failed: (caller, offset, limit) => store.list(caller, 'failed', offset, limit),
      recent: (caller, limit, conversationId) => store.recent(caller, limit, conversationId),
    } satisfies AsyncDelivery)
    // A safety net for updates stored without a job for their conversation: a replica that died
    // between storing an update and queueing its job (updates that joined that job meanwhile were
    // answered 202), or a job lost with a Redis failover. Each sweep queues the conversations of
    // the next pages of updates waiting longer than rescueMs, going round the whole backlog so
    // that a long one cannot hide an orphan; queueing a conversation whose job is there costs at
    // most one more attempt.
    let from = -Infinity
    const sweep = async () => {
      for (let pages = 0; pages < RESCUE_PAGES; pages++) {
        const { conversations, last } = await store.stale(from, clock() - rescueMs, RESCUE_PAGE)
        await Promise.all(conversations.map((c) => scheduler.enqueue(c)))
        from = last ?? -Infinity
        if (last === undefined) return
      }
    }
    const rescuer = redis && setInterval(() => { sweep().catch(() => {}) }, rescueMs).unref()
    app.onShutdown(() => {
      clearInterval(rescuer)
      pacer.close()
      return scheduler.pause?.()
    })
    app.addHook('onClose', async () => {
      clearInterval(rescuer)
      await scheduler.close()
      store.close?.()
    })
  },
{ name: 'delivery', dependencies: ['updates', 'redis', 'metrics', 'shutdown'] }
)
