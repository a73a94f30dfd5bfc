import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
import type { Attributes } from '../attributes/body.js'
import type { Config } from '../config.js'
import { overloaded } from '../errors.js'
import type { Target } from '../updates/ports.js'
import { MemoryDeliveryStore } from './memory.js'
import type { Delivery, DeliveryStore, Page } from './store.js'
import { DeliveryWorker } from './worker.js'

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
}

declare module 'fastify' {
  interface FastifyInstance {
    delivery: AsyncDelivery
  }
}

function metricsOf (app: { metrics: { registry: import('prom-client').Registry } }, store: DeliveryStore) {
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
 * Asynchronous delivery (`Prefer: respond-async`): intake, status and the workers. Without a
 * durable store the preference is not applied in production (RFC 7240 lets a server ignore it);
 * elsewhere updates are kept in memory, and start-up says they do not survive the process.
 */
export default fp<{ config: Config; clock?: (() => number) | undefined }>(
  async (app, { config, clock = Date.now }) => {
    const { maxAgeMs, maxBacklog } = config.delivery
    if (app.redis !== undefined || config.env === 'production') {
      const why = app.redis !== undefined ? 'the Redis store is not built yet' : 'no REDIS_URL: a 202 could not survive this process'
      app.log.warn({ why }, 'Prefer: respond-async is not applied: every write is answered synchronously')
      app.decorate('delivery', {
        enabled: false,
        accept: () => Promise.reject(new Error('asynchronous delivery is off')),
        get: async () => undefined,
        failed: async () => ({ items: [] }),
      } satisfies AsyncDelivery)
      return
    }
    app.log.warn('asynchronous updates (Prefer: respond-async) are kept in memory: NOT durable, lost if this process stops; set REDIS_URL for durable delivery')
    const store = new MemoryDeliveryStore({ clock })
    const m = metricsOf(app, store)
    const worker = new DeliveryWorker(app.updates, store, {
      maxAgeMs,
      clock,
      onWritten: () => m.written.inc(),
      onFailed: (d) => m.failed.labels(d.error!.code).inc(),
      onRetry: (_d, code) => m.retried.labels(code).inc(),
      onError: (err, d) => app.log.error({ err, update: d.id }, 'could not record an asynchronous update\'s outcome'),
    })
    app.decorate('delivery', {
      enabled: true,
      async accept (caller, conversationId, target, changes) {
        const backlog = await store.backlog()
        if (backlog >= maxBacklog) throw overloaded(`${backlog} asynchronous updates are waiting to be delivered`)
        const d: Delivery = { id: randomUUID(), caller, state: 'queued', conversationId, target, changes, attempts: 0, acceptedAt: clock() }
        if ('participantId' in target) d.participantId = target.participantId
        await store.add(d)
        m.accepted.inc()
        void worker.deliver(d)
        const { id, participantId } = d
        return { id, state: 'queued', conversationId, ...(participantId !== undefined && { participantId }), keys: Object.keys(changes), acceptedAt: new Date(d.acceptedAt).toISOString() }
      },
      async get (caller, id) {
        const d = await store.get(id)
        return d?.caller === caller ? d : undefined
      },
      failed: (caller, offset, limit) => store.list(caller, 'failed', offset, limit),
    } satisfies AsyncDelivery)
    app.addHook('onClose', async () => {
      await worker.close()
      store.close()
    })
  },
{ name: 'delivery', dependencies: ['updates', 'redis', 'metrics'] }
)
