import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import sensible from '@fastify/sensible'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Dispatcher } from 'undici'
import type { Config } from './config.js'
import { ApiError, toProblem, type ErrorCode } from './errors.js'
import { MemoryIdempotencyStore } from './idempotency.js'
import metrics from './plugins/metrics.js'
import redis from './plugins/redis.js'
import { RedisIdempotencyStore } from './redis/idempotency.js'
import { authenticate } from './plugins/auth.js'
import docs from './plugins/docs.js'
import { verifySignatures } from './plugins/signature.js'
import { RequestLog } from './request-log.js'
import attributes from './routes/attributes.js'
import dataAction from './data-action/route.js'
import health from './routes/health.js'
import updates from './updates/plugin.js'
import { validatorCompiler } from './validation.js'

export interface AppDeps {
  dispatcher?: Dispatcher
  now?: () => number
  /** Where logs go; stdout when absent. Tests capture them here. */
  logStream?: DestinationStream
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

/** During shutdown, how long no request must arrive before the listener closes. */
const QUIET_MS = 250

/** 64 KiB: a full 50-attribute write of ASCII values at the default value limit fits. */
const BODY_LIMIT_BYTES = 64 * 1024

// Fastify's own 4xx errors, in catalogue terms.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_BODY',
  // An id with a broken %-escape, or longer than any id can be (both before routing).
  FST_ERR_BAD_URL: 'INVALID_ID',
  FST_ERR_MAX_PARAM_LENGTH: 'INVALID_ID',
}

function asApiError(err: FastifyError): ApiError {
  if (err instanceof ApiError) return err
  const code = FASTIFY_CODES[err.code]
  if (code !== undefined) return new ApiError(code, err.message)
  // Some other malformed request Fastify refused: still the caller's, still not a 500.
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new ApiError('BAD_REQUEST', err.message)
  return new ApiError('INTERNAL_ERROR', 'unexpected error; it has been logged', { cause: err })
}

function sendProblem(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const problem = asApiError(err)
  if (problem.code === 'INTERNAL_ERROR') req.log.error({ err }, 'unhandled error')
  else if (problem.code === 'BAD_REQUEST') req.log.warn({ fastifyCode: err.code }, 'request refused by Fastify; map its code in FASTIFY_CODES')
  reply.problemCode = problem.code
  if (problem.retryAfter !== undefined) reply.header('retry-after', String(problem.retryAfter))
  return reply.status(problem.status).type('application/problem+json').send(toProblem(problem, req.url))
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Graceful shutdown, before close(): refuse new requests with 503 (readiness included),
     * answer every waiting caller by `by` (epoch ms), then keep refusing until callers have
     * stopped coming, so that close() finds nothing in flight and nobody knocking.
     */
    shutdown(by: number): Promise<void>
  }
  interface FastifyRequest {
    /** The body as received, before parsing. */
    rawBody: string
  }
  interface FastifyReply {
    /** Catalogue code of the error this reply carries, for the request log line. */
    problemCode: ErrorCode | undefined
    /** Attribute keys the request set, for the request log line (values are never logged). */
    loggedKeys: string[] | undefined
  }
}

/** Builds the service; never listens, so tests and the server entry share it. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // No redact paths: nothing logs headers or credentials (a test reads every line at trace
      // level to keep it so), and redaction cost every line a third more (5-7 µs to 9-11 µs).
      ...(deps.logStream && { stream: deps.logStream }),
    },
    bodyLimit: BODY_LIMIT_BYTES,
    // A caller's (or a proxy's) X-Request-Id is used when it is a plain token; else a new one.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    logController: new RequestLog(),
    // Answered with a catalogue problem by the hook below rather than Fastify's plain 503.
    return503OnClosing: false,
    frameworkErrors: sendProblem,
  })

  app.setValidatorCompiler(validatorCompiler)
  // Response schemas are there to describe the API; answers are plain JSON.stringify.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
  // JSON.parse (not secure-json-parse) so `__proto__` and `constructor` reach validation as
  // ordinary keys and are rejected by name, and so a syntax error says where it is. The text
  // is kept for signature checks and idempotency fingerprints.
  app.decorateRequest('rawBody', '')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(new ApiError('INVALID_BODY', 'body is empty; send a JSON object'), undefined)
    req.rawBody = body as string
    try {
      done(null, JSON.parse(body as string))
    } catch (err) {
      done(new ApiError('INVALID_BODY', `body is not valid JSON: ${(err as Error).message}`), undefined)
    }
  })

  app.decorateReply('problemCode', undefined)
  app.decorateReply('loggedKeys', undefined)
  app.setErrorHandler(sendProblem)
  app.setNotFoundHandler((req) => {
    throw new ApiError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`)
  })

  let closing = false
  let lastRefused = 0
  app.decorate('shutdown', async (by: number) => {
    closing = true
    await app.updates.close(by)
    // A client (or load balancer) that was just answered 503 moves on; one whose request was in
    // flight until now sends its next one here. Closing the listener under it would turn that
    // into a refused or reset connection, so wait for a quiet moment, up to the limit.
    while (Date.now() - lastRefused < QUIET_MS && Date.now() + QUIET_MS < by) await sleep(QUIET_MS / 5)
  })
  app.addHook('preClose', async () => {
    closing = true
  })
  // Callback style: this runs on every request, and an async hook costs a promise each time.
  app.addHook('onRequest', (req, reply, done) => {
    // Echoed on every answer, so a caller can quote it and find the request's log lines.
    reply.header('x-request-id', req.id)
    if (!closing) return done()
    lastRefused = Date.now()
    // The connection goes too, so a keep-alive client finds another instance for its next request.
    reply.header('connection', 'close')
    done(new ApiError('SHUTTING_DOWN', 'not accepting new requests; send it to another instance', { retryAfter: 1 }))
  })

  await app.register(sensible)
  await app.register(docs)
  await app.register(metrics)
  await app.register(redis, { url: config.redisUrl, clientId: config.genesys.clientId })
  await app.register(updates, { config, dispatcher: deps.dispatcher, clock: deps.now })
  await app.register(health)
  const day = 24 * 60 * 60 * 1000
  const idempotency = app.redis
    ? new RedisIdempotencyStore(app.redis, { prefix: app.redisPrefix, ttlMs: day, pendingMs: config.requestTimeoutMs + config.genesys.timeoutMs })
    : new MemoryIdempotencyStore({ max: config.idempotencyMaxKeys, ttlMs: day })
  await app.register(async (api) => {
    authenticate(api, config.apiKeys)
    verifySignatures(api, config.apiKeys, deps.now)
    await api.register(attributes, { limits: config.limits, requestTimeoutMs: config.requestTimeoutMs, idempotency })
    await api.register(dataAction)
  })
  return app
}
