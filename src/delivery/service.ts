import type { Clock } from '../clock.ts'
import { randomUUID } from 'node:crypto'
import { trace } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import { Counter } from 'prom-client'
import type { z } from 'zod'
import type { Config } from '../config.ts'
import { overloaded } from '../errors.ts'
import { scrapedGauge, type Metrics } from '../observability/index.ts'
import type { Updates } from '../updates/index.ts'
import { watchPersistence } from './persistence.ts'
import { view, type acceptedSchema } from './views.ts'
import { setupCallbacks, type CallbackView } from './callbacks-setup.ts'
import type { Delivery, DeliveryStore, Page, Stores } from '../coordination/index.ts'
import { DeliveryTracing } from './tracing.ts'
import { Deliverer, Scheduler } from './worker.ts'
import type { Attributes, Target } from '../domain.ts'

/** What a 202 says. */
export type Accepted = z.infer<typeof acceptedSchema>

export interface AsyncDelivery {
  /** False where no store can keep the promise a 202 makes (production without Redis). */
  readonly enabled: boolean
  /** Stores the update, due for delivery, and says what to answer; OVERLOADED past the backlog. `retryOf`: the failed update it sends again. */
  accept(caller: string, conversationId: string, target: Target, changes: Attributes, opts?: { retryOf?: string }): Promise<Accepted>
  /** The caller's own update; undefined for anyone else's, as for none. */
  get(caller: string, id: string): Promise<Delivery | undefined>
  failed(caller: string, offset: number, limit: number): Promise<Page>
  /** The caller's latest updates in any state, newest first (the console shows them). */
  recent(caller: string, limit: number, conversationId?: string): Promise<Delivery[]>
  /** Where the update's outcome callback stands; undefined when its key has none. */
  callback(d: Delivery): Promise<CallbackView | undefined>
}

/** Asynchronous delivery, and what runs beside it: the scheduler and the outcome callbacks. */
export interface DeliveryService {
  delivery: AsyncDelivery
  /** Stops taking due work (shutdown has begun); what is under way goes on. */
  stop(): void
  /** Waits for what is under way, then closes. */
  close(): Promise<void>
}

export interface DeliveryOptions {
  config: Config
  clock: Clock
  stores: Stores
  updates: Updates
  metrics: Metrics
  log: FastifyBaseLogger
  /** False where no store can keep the promise a 202 makes (production without Redis). */
  enabled: boolean
}

function metricsOf ({ registry }: Metrics, store: DeliveryStore, scheduler: () => Scheduler, now: () => number) {
  const registers = [registry]
  const m = {
    accepted: new Counter({ name: 'pdg_async_accepted_total', help: 'Asynchronous updates accepted (202)', registers }),
    written: new Counter({ name: 'pdg_async_written_total', help: 'Asynchronous updates written to Genesys Cloud', registers }),
    failed: new Counter({ name: 'pdg_async_failed_total', help: 'Asynchronous updates settled failed, by code', labelNames: ['code'] as const, registers }),
    retried: new Counter({ name: 'pdg_async_retries_total', help: 'Asynchronous delivery attempts that will be tried again, by code', labelNames: ['code'] as const, registers }),
  }
  // Read when /metrics is scraped.
  const gauge = (name: string, help: string, read: () => number | Promise<number>) => scrapedGauge(registry, name, help, read)
  gauge('pdg_async_backlog', 'Asynchronous updates accepted and not yet settled', async () => (await store.backlog()).count)
  gauge('pdg_async_attempt_limit', 'Delivery attempts this replica starts at once now: fewer while its event loop is busy', () => scheduler().limit)
  gauge('pdg_async_oldest_age_seconds', 'Age of the oldest asynchronous update not yet settled (0 when none)', async () => {
    const { oldest } = await store.backlog()
    return oldest === undefined ? 0 : (now() - oldest) / 1000
  })
  return m
}

/** Asynchronous delivery over the store, or off (`enabled` false: services.ts decides). */
export async function createDelivery (opts: DeliveryOptions): Promise<DeliveryService> {
  const { config, clock, stores, updates, metrics, log } = opts
  const { maxAgeMs, maxBacklog, maxBacklogPerKey, concurrency } = config.delivery
  // Each key's share of the backlog; with authentication off there is one caller, and it is all.
  const shares = new Map(config.apiKeys.map((k) => [k.name, k.asyncBacklog ?? maxBacklogPerKey]))
  const shareOf = (caller: string) => shares.get(caller) ?? maxBacklog
  const redis = stores.shared?.client
  if (!opts.enabled) {
    log.warn('Prefer: respond-async is not applied without REDIS_URL: every write is answered synchronously')
    const off: AsyncDelivery = {
      enabled: false,
      accept: () => Promise.reject(new Error('asynchronous delivery is off')),
      get: async () => undefined,
      failed: async () => ({ items: [] }),
      recent: async () => [],
      callback: async () => undefined,
    }
    return { delivery: off, stop: () => {}, close: async () => {} }
  }
  const store = stores.delivery
  const m = metricsOf(metrics, store, () => scheduler, clock.now)
  // Outcome callbacks (docs/crm.md), for the keys that name a callbackUrl.
  const callbacks = await setupCallbacks({ metrics, log }, { config, clock, store: stores.callbacks, view, update: (id) => store.get(id) })
  const tracing = config.tracing.enabled ? new DeliveryTracing(trace.getTracer('participant-data-gateway')) : undefined
  const deliverer = new Deliverer(updates, store, {
    tracing,
    maxAgeMs,
    clock,
    onOutcome: (d) => {
      if (d.state === 'written') m.written.inc()
      else (d.state === 'failed' ? m.failed : m.retried).labels(d.error!.code).inc()
      callbacks?.settled(d)
    },
  })
  // The due list stays in the store through any failure here: it is read again at the next poll.
  const onError = (err: unknown) => log.warn({ err: (err as Error).message }, 'asynchronous delivery: the store failed; trying again shortly')
  const scheduler = new Scheduler(store, deliverer, { concurrency, clock, onError })
  if (redis) {
    log.info('asynchronous updates (Prefer: respond-async) are stored in Redis and delivered by every replica')
    await watchPersistence(redis, metrics.registry, log)
  } else {
    log.warn('asynchronous updates (Prefer: respond-async) are kept in memory: NOT durable, lost if this process stops; set REDIS_URL for durable delivery')
  }
  // retryOf: a failed update sent again (POST /updates/{id}/retry).
  async function intake (
    id: string, caller: string, conversationId: string, target: Target, changes: Attributes, retryOf: string | undefined, traceparent?: string
  ): Promise<Accepted> {
    // Failures are the store's own answers (COORDINATION_UNAVAILABLE when Redis is unreachable); anything else is a bug, a 500.
    const d: Delivery = { id, caller, state: 'queued', conversationId, target, changes, seq: await updates.sequence(conversationId), attempts: 0, acceptedAt: clock.now() }
    if ('participantId' in target) d.participantId = target.participantId
    if (traceparent !== undefined) d.traceparent = traceparent
    if (callbacks?.has(caller)) d.callback = true
    if (retryOf !== undefined) d.retryOf = retryOf
    const share = shareOf(caller)
    const accepted = await store.accept(d, maxBacklog, share)
    if (accepted === 'backlog') throw overloaded(`ASYNC_MAX_BACKLOG (${maxBacklog}) asynchronous updates are waiting to be delivered`)
    if (accepted === 'share') throw overloaded(`${share} asynchronous updates of API key "${caller}" are waiting to be delivered, its share of the backlog (asyncBacklog, else ASYNC_MAX_BACKLOG_PER_KEY)`)
    scheduler.wake()
    m.accepted.inc()
    const { participantId } = d
    const acceptedAt = new Date(d.acceptedAt).toISOString()
    return { id, state: 'queued', conversationId, ...(participantId !== undefined && { participantId }), keys: Object.keys(changes), acceptedAt, ...(retryOf !== undefined && { retryOf }) }
  }
  const delivery: AsyncDelivery = {
    enabled: true,
    accept (caller, conversationId, target, changes, opts) {
      const id = randomUUID()
      if (tracing === undefined) return intake(id, caller, conversationId, target, changes, opts?.retryOf)
      return tracing.send(id, (traceparent) => intake(id, caller, conversationId, target, changes, opts?.retryOf, traceparent))
    },
    async get (caller, id) {
      const d = await store.get(id)
      return d?.caller === caller ? d : undefined
    },
    failed: (caller, offset, limit) => store.list(caller, 'failed', offset, limit),
    recent: (caller, limit, conversationId) => store.recent(caller, limit, conversationId),
    callback: async (d) => callbacks?.view(d),
  }
  return {
    delivery,
    stop: () => {
      scheduler.stop()
      callbacks?.stop()
    },
    close: async () => {
      await scheduler.close()
      await callbacks?.close()
    },
  }
}
