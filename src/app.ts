import sensible from '@fastify/sensible'
import Fastify, { type FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Dispatcher } from 'undici'
import type { Config } from './config.ts'
import { consolePlugin } from './console/index.ts'
import { createIdempotency } from './idempotency/index.ts'
import { auth, withConsoleCredentials, signature } from './access/index.ts'
import { clientError, docs, hostCheck, problems, sendProblem, rawJson, shutdown } from './http/index.ts'
import { metricsPlugin, createMetrics, type Metrics, requestLog, RequestLog, requestId, tracing, traceIds } from './observability/index.ts'
import { attributes, type Written, health } from './routes/index.ts'
import { dataAction } from './data-action/index.ts'
import { updateRoutes, resendRoutes } from './delivery/index.ts'
import { createServices, type Services } from './services.ts'
import { sandboxRoute, type Simulator } from './sim/index.ts'
import { systemClock, type Clock } from './clock.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's parts (services.ts): for the process entry and tests, never looked up by a plugin. */
    services: Services
  }
}

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

  // The service's parts, composed outside Fastify (services.ts): each plugin below is given what it uses.
  const metrics = createMetrics()
  const services = await createServices(config, { clock, log: app.log, metrics, dispatcher: deps.dispatcher })
  app.decorate('services', services)
  app.addHook('onReady', async () => services.start())
  try {
    await register(app, config, { clock, sim: deps.sim, metrics, services })
  } catch (err) {
    // A plugin refused to start: what the services opened (Redis, timers, sockets) is closed.
    await services.close().catch(() => {})
    throw err
  }
  // Added last, so run first (onClose hooks run in reverse): the services finish their work
  // while the plugins (tracing, which exports the last spans) are still there.
  app.addHook('onClose', async () => services.close())

  return app
}

/** The plugins and routes, each given what it uses. */
async function register (
  app: FastifyInstance,
  config: Config,
  { clock, sim, metrics, services }: { clock: Clock; sim: Simulator | undefined; metrics: Metrics; services: Services }
): Promise<void> {
  const { stores, updates, delivery, tokens } = services
  // First the frame, in Fastify's own order: a hook, handler or body parser applies to what is
  // registered after it, and a hook runs after those added before it. So tracing comes first
  // (its span wraps every other hook), then the problem handlers, the request id (echoed before
  // shutdown refuses), the body parser, and /docs (it collects the routes registered after it).
  await app.register(tracing, config.tracing)
  await app.register(problems)
  await app.register(hostCheck, { enabled: config.mode === 'sandbox' || config.apiKeys.length === 0, names: [config.host, config.publicUrl && new URL(config.publicUrl).host] })
  await app.register(requestLog)
  await app.register(rawJson)
  await app.register(sensible)
  await app.register(docs)
  await app.register(metricsPlugin, { metrics })
  await app.register(shutdown, { drain: services.drain })
  // Then the routes, in any order: none looks another up, and each is given what it uses.
  await app.register(health, { tokens })
  if (sim) await app.register(sandboxRoute, { sim })
  // Told of each synchronous write, and which caller made it: the console listens when it is on
  // (sandbox or CONSOLE=1), whichever is registered first.
  const onWritten = new Set<(w: Written) => void>()
  await app.register(consolePlugin, { config, sim, clock, updates, delivery, metrics, onWritten: (listener) => onWritten.add(listener) })
  // Behind the API keys: everything above is not (health, metrics, docs).
  await app.register(async (api) => {
    // The console presents a credential of its own for each key (access/console-credential.ts).
    await api.register(auth, { keys: withConsoleCredentials(config.apiKeys) })
    await api.register(signature, { keys: config.apiKeys, clock, replays: stores.replays })
    const idempotency = createIdempotency({ store: stores.idempotency, metrics })
    await api.register(attributes, { limits: config.limits, requestTimeoutMs: config.requestTimeoutMs, clock, updates, delivery, idempotency, onWritten })
    await api.register(dataAction, { publicUrl: config.publicUrl, sandbox: config.mode === 'sandbox' })
    await api.register(updateRoutes, { delivery })
    const { endedConversationWrites, requestTimeoutMs } = config
    await api.register(resendRoutes, { endedConversationWrites, requestTimeoutMs, clock, ledger: stores.resends, updates, delivery })
  })
}
