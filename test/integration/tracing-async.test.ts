import { Redis } from 'ioredis'
import t from 'tap'
import { CLIENT, receiver, SERVER, type OtlpSpan } from '../helpers/otlp.ts'
import { startService } from '../helpers/process.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startStack, until, type Teardown } from '../helpers/stack.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'

const PRODUCER = 4
const CONSUMER = 5

/** What an update's record in Redis holds (the service's own key layout). */
async function stored (t: Teardown, redisUrl: string, clientId: string, updateId: string): Promise<Record<string, unknown>> {
  const redis = new Redis(redisUrl)
  t.teardown(() => redis.quit())
  return JSON.parse((await redis.get(`{pdg:${clientId}:async}:u:${updateId}`))!)
}

// The traced service runs in a child process (the OpenTelemetry SDK is process-wide) with its
// updates in a real Redis: the delivery is an attempt a replica claims after the 202 was sent.
t.test('an asynchronous write: the delivery’s spans start a trace linked to the accepting request’s', async (t) => {
  const otlp = await receiver(t)
  const redis = await startRedis(t)
  const sim = buildSimulator({ clientId: 'traced-async', clientSecret: 'client-secret-0a1b2c' })
  const simUrl = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const apiKey = 'api-key-9f8e7d6c5b4a'
  const service = await startService(t, {
    GENESYS_CLIENT_ID: 'traced-async',
    GENESYS_CLIENT_SECRET: 'client-secret-0a1b2c',
    GENESYS_API_URL: simUrl,
    GENESYS_LOGIN_URL: simUrl,
    API_KEYS: `crm:${apiKey}`,
    REDIS_URL: redis.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  })
  const traceId = '5a6b7c8d9e0f11223344556677889900'
  const c = id()
  const p = id()
  const value = 'PERSONAL-5500005555555559'
  const accepted = await send(`${service.url}/participants/${c}/${p}/data`, 'POST', { attributes: { card: value } }, {
    authorization: `Bearer ${apiKey}`,
    prefer: 'respond-async',
    traceparent: `00-${traceId}-1122334455667788-01`,
    // Baggage travels with a request's context, and may carry anything: it must not be stored.
    baggage: 'secret=BAGGAGE-VALUE-42',
  })
  t.equal(accepted.status, 202)

  const patchOf = (all: OtlpSpan[]) => all.find((s) => s.kind === CLIENT && s.name.startsWith('PATCH'))
  const spans = await until(() => otlp.spans(), (seen) => patchOf(seen) !== undefined && seen.some((s) => s.kind === CONSUMER) && seen.some((s) => s.kind === SERVER), { what: 'the PATCH, consumer and server spans exported' })
  t.equal(sim.attributes(c, p)?.card, value, 'delivered')
  const server = spans.find((s) => s.kind === SERVER && s.traceId === traceId)
  t.ok(server, 'the accepting request’s server span, in the caller’s trace')
  const sent = spans.find((s) => s.kind === PRODUCER)
  t.equal(sent?.name, 'send delivery', 'its acceptance (stored, queued) is a producer span')
  t.equal(sent?.traceId, traceId, 'in the request’s trace')
  const byId = new Map(spans.map((s) => [s.spanId, s]))
  const up: string[] = []
  for (let s = sent; s !== undefined; s = s.parentSpanId === undefined ? undefined : byId.get(s.parentSpanId)) up.push(s.name)
  t.equal(up.at(-1), server?.name, `below the request’s server span: ${up.join(' < ')}`)

  const processed = spans.find((s) => s.kind === CONSUMER)
  t.equal(processed?.name, 'process delivery', 'the delivery attempt is a consumer span')
  t.not(processed?.traceId, traceId, 'in a trace of its own')
  t.notOk(processed?.parentSpanId, 'as its root')
  t.same(processed?.links?.map(({ traceId, spanId }) => ({ traceId, spanId })), [{ traceId, spanId: sent?.spanId }], 'linked to the acceptance, in the request’s trace')

  const patch = patchOf(spans)
  t.ok(patch, 'the delivery’s Genesys PATCH has its client span')
  const inDelivery = spans.filter((s) => s.traceId === processed?.traceId)
  t.equal(patch?.traceId, processed?.traceId, 'in the delivery’s trace')
  const byIdThere = new Map(inDelivery.map((s) => [s.spanId, s]))
  const chain: string[] = []
  for (let s = patch; s !== undefined; s = s.parentSpanId === undefined ? undefined : byIdThere.get(s.parentSpanId)) chain.push(s.name)
  t.equal(chain.at(-1), 'process delivery', `below the delivery span: ${chain.join(' < ')}`)
  t.ok(inDelivery.some((s) => s.name === 'queue wait'), 'the delivery’s wait in the conversation’s queue is a span')

  const record = await stored(t, redis.url, 'traced-async', accepted.body.id)
  t.equal(record.traceparent, `00-${traceId}-${sent?.spanId}-01`, 'the stored context: the acceptance’s traceparent, nothing more')
  t.same(Object.keys(record).sort(), ['acceptedAt', 'attempts', 'caller', 'changes', 'conversationId', 'id', 'participantId', 'seq', 'settledAt', 'state', 'target', 'traceparent'])
  const all = otlp.bodies.join('\n')
  for (const secret of [value, apiKey, 'BAGGAGE-VALUE-42']) t.notOk(all.includes(secret), `no ${secret.slice(0, 12)}… on any span`)
  t.notOk(JSON.stringify(record).includes('BAGGAGE'), 'no baggage stored')
})

t.test('tracing off: an accepted update stores no trace context', async (t) => {
  const redis = await startRedis(t)
  const stack = await startStack(t, { env: { REDIS_URL: redis.url } })
  const accepted = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } }, {
    prefer: 'respond-async',
    traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`,
  })
  t.equal(accepted.status, 202)
  const record = await stored(t, redis.url, stack.config.genesys.clientId, accepted.body.id)
  t.equal(record.id, accepted.body.id)
  t.notOk('traceparent' in record, 'no traceparent field')
})

// Last: the SDK reads the OTEL_* variables from this process's environment, set here.
t.test('without Redis (in memory, development): the same link', async (t) => {
  const otlp = await receiver(t)
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' })
  t.teardown(() => {
    for (const k of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_BSP_SCHEDULE_DELAY']) delete process.env[k]
  })
  const stack = await startStack(t, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url } })
  // No traceparent of the test's: the undici instrumentation, on in this process, puts its own on the request.
  const accepted = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } }, { prefer: 'respond-async' })
  t.equal(accepted.status, 202)
  const spans = await until(() => otlp.spans(), (seen) => seen.some((s) => s.kind === CONSUMER) && seen.some((s) => s.kind === SERVER), { what: 'the consumer and server spans exported' })
  const server = spans.find((s) => s.kind === SERVER)
  const sent = spans.find((s) => s.kind === PRODUCER)
  const processed = spans.find((s) => s.kind === CONSUMER)
  t.ok(server)
  t.equal(sent?.traceId, server?.traceId, 'the acceptance in the request’s trace')
  t.not(processed?.traceId, server?.traceId, 'the delivery in a trace of its own')
  t.same(processed?.links?.map(({ traceId, spanId }) => ({ traceId, spanId })), [{ traceId: server?.traceId, spanId: sent?.spanId }], 'linked to the acceptance')
})
