import type { Clock } from '../clock.ts'
import { trace } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import { Gauge } from 'prom-client'
import { Agent, type Dispatcher } from 'undici'
import type { Config } from '../config.ts'
import { scrapedGauge, type Metrics } from '../observability/index.ts'
import { RateBudget } from './budget.ts'
import { latest, type Sequences, type Standing, type Stores } from '../coordination/index.ts'
import { coordinationUnavailable } from '../errors.ts'
import { GenesysClient, type HttpOptions, OrgLimit, type LimitSource, TokenProvider } from '../genesys/index.ts'
import { Journal } from './journal.ts'
import type { ReadResult, Update, Urgency, WriteResult } from './ports.ts'
import { UpdateQueue } from './queue.ts'
import { AttributeReader } from './read.ts'
import { RetryPolicy, type Retry } from './retry.ts'
import { PipelineTracing } from './tracing.ts'
import type { Attributes, Conversation, Target } from '../domain.ts'

/** The write pipeline as the routes and shutdown see it. */
export interface Updates {
  submit(conversationId: string, target: Target, update: Update): Promise<WriteResult>
  /**
   * Asynchronous updates to one target, each with its number in the conversation's order of
   * acceptance: folded here, once (per key, the value accepted last), into one caller's update.
   */
  deliver(conversationId: string, target: Target, accepted: ReadonlyArray<{ changes: Attributes; seq: number }>, urgency: Urgency): Promise<WriteResult>
  /** The next number in a conversation's order of acceptance, for an asynchronous update's `seqs` (invariant 7, docs/architecture.md). */
  sequence(conversationId: string): Promise<number>
  /** The participant's attributes as they stand (read-back). */
  read(conversationId: string, target: Target, urgency: Urgency): Promise<ReadResult>
  /** The same for a dry run, refused as the write would be when the conversation has ended. */
  preview(conversationId: string, target: Target, urgency: Urgency): Promise<ReadResult>
  /** Every participant of the conversation, through the same budget and retries (the console). */
  conversation(conversationId: string, urgency: Urgency, opts?: { asGenesysShows?: boolean }): Promise<Conversation>
  /** The request budget's limit in force, learned or configured (the doctor's rate-limit check). */
  budget(): Promise<Standing>
  /** The most the budget spends per window now, and where that comes from (the org's Limits API, the configuration, Genesys's default). */
  rateLimit(): { limit: number; source: LimitSource }
  /** Answers every caller by `by` (epoch ms); resolves when none is left waiting. */
  close(by: number): Promise<void>
  /** Callers waiting for an answer, in all. */
  readonly callers: number
  /** Conversations with a write in flight or pending. */
  readonly size: number
}

/** Its slice of the configuration: Genesys, the queue's bounds, ended conversations, tracing, and whether asynchronous delivery is on. */
export interface PipelineOptions extends Pick<Config, 'genesys' | 'queue' | 'endedConversationWrites'> {
  /** Asynchronous delivery is on: updates carry their order of acceptance, and an older one is never written over a newer. */
  asynchronous: boolean
  tracing: boolean
  /** Tests pass their own to control the network; otherwise one keep-alive pool per origin. */
  dispatcher?: Dispatcher | undefined
  clock: Clock
  /** What replicas share (src/coordination/): the lock, token, budget's log, order and journal. */
  stores: Stores
  metrics: Metrics
  log: FastifyBaseLogger
}

/** Asynchronous updates folded into one: per key, the value accepted last, with its number. */
export function folded (accepted: ReadonlyArray<{ changes: Attributes; seq: number }>): { changes: Attributes; seqs: Sequences } {
  return latest(accepted.map((a) => ({ changes: a.changes, seqs: Object.fromEntries(Object.keys(a.changes).map((k) => [k, a.seq])) })))
}

/** The pipeline, and what runs beside it: the org's limit, read in the background. */
export interface Pipeline {
  updates: Updates
  tokens: TokenProvider
  /** Starts reading the org's limit; the service answers at once meanwhile, on the configured one. */
  start(): void
  /** Stops the background work and closes the connection pool (every caller has been answered). */
  close(): Promise<void>
}

/** The write pipeline, put together: Genesys client and token, budget, lock, retry policy, queue. */
export function createPipeline (
  { genesys: g, queue: limits, endedConversationWrites, asynchronous, tracing: traced, dispatcher, clock, stores, metrics, log }: PipelineOptions
): Pipeline {
  const owned = dispatcher === undefined
  const net = dispatcher ?? new Agent({ connections: 128, keepAliveTimeout: 10_000 })
  const http: HttpOptions = {
    dispatcher: net,
    timeoutMs: g.timeoutMs,
    // Each Genesys call once: in the metrics, and in the log at debug (at info the request
    // line says enough, and the hot path stays lean).
    onExchange: ({ op, status, ms, correlationId, headers }) => {
      // A 429 (its Retry-After) binds every request; no answer at all is no evidence of the limit.
      if (op !== 'token') budget.observe(status, headers)
      metrics.upstreamSeconds.labels(op, status === 0 ? 'network' : String(status)).observe(ms / 1000)
      // Built only when it will be written: this runs for every Genesys call.
      if (log.level === 'debug' || log.level === 'trace') log.debug({ upstream: op, status, ms: Math.round(ms), correlationId }, 'genesys')
    },
  }
  // With Redis (several replicas): one token, one request budget and one writer per
  // conversation for all of them. Without it, this process's own.
  const store = stores.token
  const onRefresh = (ok: boolean) => metrics.tokenRefreshes.labels(ok ? 'ok' : 'failed').inc()
  const tokens = new TokenProvider({ ...http, loginUrl: g.loginUrl, clientId: g.clientId, clientSecret: g.clientSecret, clock: clock.now, store, onRefresh })
  const client = new GenesysClient({ ...http, apiUrl: g.apiUrl, tokens })
  const policy = new RetryPolicy({ conflictRetries: g.conflictRetries, clock })
  const tracing = traced ? new PipelineTracing(trace.getTracer('participant-data-gateway')) : undefined
  const budget = new RateBudget({
    ...g.rateLimit,
    clock,
    log: stores.budgetLog,
    onWait: (p) => metrics.budgetWaits.labels(p).inc(),
    onRefuse: (p) => metrics.budgetRefusals.labels(p).inc(),
    tracing,
    prepare: () => client.prepare(),
  })
  // The org's own limit, from Genesys's Limits API at start-up and hourly (one replica asks for
  // all through Redis), under GENESYS_RATE_LIMIT_PER_MINUTE when that is set.
  let limitSource: LimitSource = g.rateLimit.configured === undefined ? 'default' : 'configured'
  const orgLimit = new OrgLimit({
    configured: g.rateLimit.configured,
    ask: () => budget.take('bulk', clock.now() + g.timeoutMs, () => client.getTokenRateLimit()),
    store: stores.readings,
    clock,
    pollMs: g.rateLimit.windowMs,
    apply: (limit, source, why) => {
      budget.setLimit(limit)
      limitSource = source
      log.info({ rateLimit: limit, source }, `rate limit: ${why}`)
    },
  })
  const onRetry = (r: Retry) => {
    metrics.retries.labels(r.cause).inc()
    tracing?.retried(r)
    log.debug(r, 'retrying upstream')
  }
  // Asynchronous delivery is what can deliver an older value late: without it, no order is kept.
  const order = asynchronous ? stores.order : undefined
  // Read-your-writes, shared by replicas (and kept over a restart) through Redis.
  const journal = new Journal(stores.journal, g.propagationMs, clock)
  const queue = new UpdateQueue(client, {
    order,
    journal,
    mode: g.writeMode,
    refuseEnded: endedConversationWrites === 'refuse',
    policy,
    budget,
    lock: stores.lock,
    maxPerConversation: limits.maxPerConversation,
    maxTotal: limits.maxTotal,
    // A lost PATCH cannot outlive our own wait for its answer by much.
    unknownOutcomePause: () => clock.sleep(g.timeoutMs),
    onRetry,
    onWrite: (coalesced) => metrics.batchSize.observe(coalesced),
    onUnordered: (conversationId, err) =>
      log.error({ conversationId, err: (err as Error).message }, 'a write landed but what it carried could not be recorded: a late read or an older asynchronous value could overwrite it'),
    clock,
    tracing,
  })
  const reader = new AttributeReader(client, { policy, budget, journal, onRetry, clock })
  const updates: Updates = {
    submit: (conversationId, target, update) => queue.submit(conversationId, target, update),
    deliver: (conversationId, target, accepted, urgency) => queue.submit(conversationId, target, { ...folded(accepted), ...urgency }),
    sequence: async (conversationId) => {
      if (order === undefined) throw new Error('there is no order of acceptance without asynchronous delivery')
      return order.next(conversationId).catch((err: unknown) => Promise.reject(coordinationUnavailable(err)))
    },
    read: (conversationId, target, urgency) => reader.read(conversationId, target, urgency),
    preview: (conversationId, target, urgency) => reader.read(conversationId, target, urgency, endedConversationWrites === 'refuse'),
    conversation: (conversationId, urgency, opts) => reader.conversation(conversationId, urgency, opts),
    budget: () => budget.standing(),
    rateLimit: () => ({ limit: budget.configured, source: limitSource }),
    close: (by) => queue.close(by),
    get callers () {
      return queue.callers
    },
    get size () {
      return queue.size
    },
  }
  const { registry } = metrics
  scrapedGauge(registry, 'pdg_queue_updates', 'Updates waiting for an answer (queued or being written)', () => queue.callers)
  scrapedGauge(registry, 'pdg_queue_conversations', 'Conversations with an update queued or being written', () => queue.size)
  // Read from the shared log at scrape time, so a learned limit is seen climbing back even while no request asks.
  const standing = () => budget.standing().catch(() => undefined)
  scrapedGauge(registry, 'pdg_rate_budget_limit', 'Genesys requests allowed per window, as in force: GENESYS_RATE_LIMIT_PER_MINUTE, or less when learned from a 429', async () => (await standing())?.limit ?? budget.limit)
  scrapedGauge(registry, 'pdg_rate_budget_configured_limit', "The most the budget spends per window: the org's limit (Limits API) under GENESYS_RATE_LIMIT_PER_MINUTE, or that, or 300", () => budget.configured)
  registry.registerMetric(new Gauge({
    name: 'pdg_rate_limit_source',
    help: "1 for where the limit the budget spends by comes from: org (the org's Limits API), configured (GENESYS_RATE_LIMIT_PER_MINUTE, below the org's or with the org's unknown), default (Genesys's 300: nothing configured, the org's unknown); a 429's learned limit is pdg_rate_budget_learned",
    labelNames: ['source'],
    registers: [],
    collect () {
      for (const source of ['org', 'configured', 'default'] as const) this.labels(source).set(limitSource === source ? 1 : 0)
    },
  }))
  scrapedGauge(registry, 'pdg_rate_budget_learned', '1 while the limit in force was learned from a 429 (what Genesys allowed) rather than configured, else 0', async () => ((await standing())?.learned === undefined ? 0 : 1))
  return {
    updates,
    tokens,
    // Not awaited: the service answers at once, on the configured limit (or 300) until Genesys does.
    start: () => { orgLimit.start().catch(() => {}) },
    close: async () => {
      orgLimit.close()
      budget.close()
      // By now every request has been answered; a write still on the wire has nobody waiting
      // for it, so there is nothing to wait for.
      if (owned) await net.destroy()
    },
  }
}
