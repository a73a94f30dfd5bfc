import type { FastifyBaseLogger } from 'fastify'
import { Counter } from 'prom-client'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { scrapedGauge, type Metrics } from '../observability/index.ts'
import { callbackAgent, urlProblem, type Lookup } from './callback-url.ts'
import { CALLBACK_TIMEOUT_MS, CallbackSender, callbackView, type CallbackStore, type CallbackView, type Receiver } from './callbacks.ts'
import { settled, type Delivery } from '../coordination/index.ts'

export type { CallbackView }

/** What asynchronous delivery (service.ts) needs of the callbacks: one small surface, so its own edits stay few. */
export interface Callbacks {
  /** Whether this key's updates are called back: its intake marks them (src/coordination/delivery.ts, `callback`). */
  has(caller: string): boolean
  /** An attempt's outcome was recorded: a settled update's event is due (memory), and the sender looks. */
  settled(d: Delivery): void
  /** The callback's state for GET /updates/{id}; undefined for a key without one. */
  view(d: Delivery): Promise<CallbackView | undefined>
  stop(): void
  close(): Promise<void>
}

/**
 * Outcome callbacks for the keys that name a callbackUrl (docs/crm.md, "Outcome callbacks"), or undefined when none
 * does. Refuses to start, naming the key, when a URL resolves to a loopback, link-local or
 * private address (unless CALLBACK_ALLOW_PRIVATE=1); the same rule holds at every connection.
 */
export async function setupCallbacks (
  { metrics, log }: { metrics: Metrics; log: FastifyBaseLogger },
  opts: {
    config: Config
    clock: Clock
    store: CallbackStore
    view: (d: Delivery) => unknown
    update: (id: string) => Promise<Delivery | undefined>
    lookup?: Lookup
  }
): Promise<Callbacks | undefined> {
  const { config, clock } = opts
  const { allowPrivate, concurrency } = config.callbacks
  // The metrics exist (at 0) whether or not a key has a callback: dashboards and alerts find them.
  const registers = [metrics.registry]
  const sent = new Counter({ name: 'pdg_callbacks_sent_total', help: 'Outcome callbacks the receiver accepted (2xx)', registers })
  const failed = new Counter({ name: 'pdg_callbacks_failed_total', help: 'Outcome callbacks given up: 24 h of retries, a 410 Gone, or the update gone', registers })
  const errors = new Counter({ name: 'pdg_callback_attempt_errors_total', help: 'Outcome callback attempts that failed and will be retried, by HTTP status (0: no answer)', labelNames: ['status'] as const, registers })
  const made: { store?: CallbackStore } = {}
  scrapedGauge(metrics.registry, 'pdg_callbacks_pending', 'Outcome callbacks not yet accepted nor given up', async () => (made.store === undefined ? 0 : (await made.store.backlog()).count))

  const receivers = new Map<string, Receiver>(config.apiKeys.flatMap((k) => (k.callback ? [[k.name, k.callback] as const] : [])))
  if (receivers.size === 0) return undefined
  const problems = (await Promise.all([...receivers].map(async ([name, r]) => {
    const why = await urlProblem(r.url, allowPrivate, opts.lookup)
    return why === undefined ? [] : [`API_KEYS_FILE: entry "${name}": callbackUrl: ${why}; refused (CALLBACK_ALLOW_PRIVATE=1 allows it, for private networks)`]
  }))).flat()
  if (problems.length > 0) throw new Error(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  const events = (made.store = opts.store)

  const dispatcher = callbackAgent({ allowPrivate, timeoutMs: CALLBACK_TIMEOUT_MS, ...(opts.lookup && { lookup: opts.lookup }) })
  const sender = new CallbackSender(events, {
    clock,
    receivers,
    update: opts.update,
    view: opts.view,
    dispatcher,
    allowPrivate,
    concurrency,
    onError: (err) => log.warn({ err: (err as Error).message }, 'outcome callbacks: the store failed; trying again shortly'),
    onAttempt: (s, caller) => {
      if (s.state === 'delivered') sent.inc()
      else if (s.state === 'failed') failed.inc()
      else errors.labels(String(s.lastStatus ?? 0)).inc()
      // The update's id and the key's name; never the URL's query (it may hold a token) nor the body.
      if (s.state !== 'delivered') log.warn({ update: s.id, caller, status: s.lastStatus, attempts: s.attempts, state: s.state }, `outcome callback: ${s.lastError ?? 'failed'}`)
    },
  })
  log.info({ keys: [...receivers.keys()] }, 'outcome callbacks are on for these API keys')
  return {
    has: (caller) => receivers.has(caller),
    settled (d) {
      if (d.callback && settled(d)) events.settled?.(d, clock.now())
      sender.wake()
    },
    async view (d) {
      if (!d.callback) return undefined
      const s = await events.get(d.id)
      return callbackView(s ?? { id: d.id, state: 'pending', attempts: 0 })
    },
    stop: () => sender.stop(),
    async close () {
      await sender.close()
      await dispatcher.close()
    },
  }
}
