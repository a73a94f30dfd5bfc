import sensible from '@fastify/sensible'
import Fastify, { type FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Dispatcher } from 'undici'
import type { Config } from './config.ts'
import consolePlugin from './console/plugin.ts'
import idempotency from './idempotency/plugin.ts'
import auth from './plugins/auth.ts'
import { withConsoleCredentials } from './keys/console-credential.ts'
import { clientError } from './plugins/client-error.ts'
import docs from './plugins/docs.ts'
import hostCheck from './plugins/host-check.ts'
import metrics from './plugins/metrics.ts'
import problems, { sendProblem } from './plugins/problems.ts'
import rawJson from './plugins/raw-json.ts'
import { createStores, redisPlugin as redis } from './coordination/index.ts'
import requestLog, { RequestLog, requestId } from './plugins/request-log.ts'
import shutdown from './plugins/shutdown.ts'
import signature from './plugins/signature.ts'
import tracing, { traceIds } from './plugins/tracing.ts'
import attributes from './routes/attributes.ts'
import dataAction from './data-action/route.ts'
import delivery from './delivery/plugin.ts'
import updateRoutes from './delivery/route.ts'
import resendRoutes from './delivery/resend.ts'
import health from './routes/health.ts'
import updates from './updates/plugin.ts'
import { sandboxRoute } from './sim/sandbox.ts'
import type { Simulator } from './sim/simulator.ts'
import { systemClock, type Clock } from './clock.ts'

export interface AppDeps {
  dispatcher?: Dispatcher
  /** Time for everything that waits or dates; tests pass a FakeClock (test/helpers/clock.ts). */
  clock?: Clock
  /** Where logs go; stdout when absent. Tests capture them here. */
  logStream?: DestinationStream
  /** Sandbox mode's in-process simulator, which the console shows. */
  sim?: Simulator
}

/** 64 KiB: a full 50-attribute write of ASCII values at the default value limit fits. */
const BODY_LIMIT_BYTES = 64 * 1024

/** Builds the service; never listens, so tests and the server entry share it. */
export async function buildApp (config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const clock = deps.clock ?? systemClock
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // No redact paths: nothing logs headers or credentials (a test reads every line at trace
      // level to keep it so), and redaction costs every log line (BENCHMARKS.md).
      ...(deps.logStream && { stream: deps.logStream }),
      // trace_id and span_id on each line written under a span; without tracing, no cost per line.
      ...(config.tracing.enabled && { mixin: traceIds }),
    },
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: false,
    genReqId: requestId,
    logController: new RequestLog(),
    // Answered with a catalogue problem by the shutdown plugin rather than Fastify's plain 503.
    return503OnClosing: false,
    frameworkErrors: sendProblem,
    clientErrorHandler: clientError,
    // A client that trickles a request (a byte every few seconds) holds a connection only this long.
    requestTimeout: config.http.requestMs,
    keepAliveTimeout: config.http.keepAliveMs,
    http: {
      requestTimeout: config.http.requestMs,
      headersTimeout: config.http.headersMs,
      // Node looks for requests past these timeouts this often (30 s by default, which would let
      // a short timeout run long).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.http.headersMs / 4))),
    },
  })
  app.server.maxConnections = config.http.maxConnections

  // The order is the order of the hooks: the request id is echoed before shutdown (registered
  // once the queue it drains is) refuses. Tracing first: its server span wraps everything after.
  await app.register(tracing, config.tracing)
  await app.register(problems)
  await app.register(hostCheck, { enabled: config.mode === 'sandbox' || config.apiKeys.length === 0, names: [config.host, config.publicUrl && new URL(config.publicUrl).host] })
  await app.register(requestLog)
  await app.register(rawJson)
  await app.register(sensible)
  await app.register(docs)
  await app.register(metrics)
  await app.register(redis, { url: config.redisUrl, cluster: config.redisCluster, clientId: config.genesys.clientId })
  // Every store replicas share, in Redis or in this process: chosen here, once (src/coordination/).
  const stores = createStores(app.redis && { client: app.redis, prefix: app.redisPrefix }, {
    clock,
    lockLeaseMs: config.lockLeaseMs,
    tokenFetchMs: config.genesys.timeoutMs,
    idempotency: { maxKeys: config.idempotencyMaxKeys, pendingMs: config.requestTimeoutMs + config.genesys.timeoutMs },
    maxReplays: config.idempotencyMaxKeys,
    deliveryMaxAgeMs: config.delivery.maxAgeMs,
  })
  await app.register(updates, {
    genesys: config.genesys,
    queue: config.queue,
    endedConversationWrites: config.endedConversationWrites,
    production: config.env === 'production',
    tracing: config.tracing.enabled,
    dispatcher: deps.dispatcher,
    clock,
    stores,
  })
  await app.register(shutdown)
  await app.register(idempotency, { store: stores.idempotency })
  await app.register(health)
  if (deps.sim) await app.register(sandboxRoute, { sim: deps.sim })
  await app.register(delivery, { config, clock, stores })
  // Before the API: it notes which caller's writes changed what (off unless sandbox or CONSOLE=1).
  await app.register(consolePlugin, { config, sim: deps.sim, clock, delivery: app.delivery })
  // Behind the API keys: everything above is not (health, metrics, docs).
  await app.register(async (api) => {
    // The console presents a credential of its own for each key (keys/console-credential.ts).
    await api.register(auth, { keys: withConsoleCredentials(config.apiKeys) })
    await api.register(signature, { keys: config.apiKeys, clock, replays: stores.replays })
    await api.register(attributes, { limits: config.limits, requestTimeoutMs: config.requestTimeoutMs, clock })
    await api.register(dataAction, { publicUrl: config.publicUrl, sandbox: config.mode === 'sandbox' })
    await api.register(updateRoutes)
    const { endedConversationWrites, requestTimeoutMs } = config
    await api.register(resendRoutes, { endedConversationWrites, requestTimeoutMs, clock, ledger: stores.resends })
  })
  return app
}
