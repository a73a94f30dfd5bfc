import { trace } from '@opentelemetry/api'
import t from 'tap'
import { attr, CLIENT, receiver, SERVER } from '../helpers/otlp.ts'
import { startService } from '../helpers/process.ts'
import { id, send, startStack, until, type Teardown } from '../helpers/stack.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'

// An OpenTelemetry SDK is process-wide, so the traced service runs in a child process of its
// own (test/helpers/process.ts) and sends its spans to a receiver of the test's own.

/** A simulator in this process, so the test sees every token the service was given. */
async function simulator (t: Teardown, clientSecret: string) {
  const sim = buildSimulator({ clientId: 'traced-client', clientSecret })
  const tokens = new Set<string>()
  sim.app.addHook('onRequest', (req, _reply, done) => {
    const auth = req.headers.authorization ?? ''
    if (auth.startsWith('Bearer ')) tokens.add(auth.slice(7))
    done()
  })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  return { url, tokens }
}

t.test('a request with traceparent: server span in the caller’s trace, the Genesys PATCH below it, no value or secret on any span', async (t) => {
  const otlp = await receiver(t)
  const clientSecret = 'client-secret-5e4d3c2b1a09'
  const apiKey = 'api-key-77aa66bb55cc44dd33ee'
  const sim = await simulator(t, clientSecret)
  const service = await startService(t, {
    GENESYS_CLIENT_ID: 'traced-client',
    GENESYS_CLIENT_SECRET: clientSecret,
    GENESYS_API_URL: sim.url,
    GENESYS_LOGIN_URL: sim.url,
    API_KEYS: `crm:${apiKey}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'pdg-under-test',
  })
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const callerSpan = '00f067aa0ba902b7'
  const values = ['PERSONAL-4111111111111111', 'jane.doe@example.com', 'JSON-BROKE']
  const c = id()
  const p = id()
  const answer = await send(`${service.url}/participants/${c}/${p}/data`, 'POST', { attributes: { card: values[0], email: values[1] } }, {
    authorization: `Bearer ${apiKey}`,
    traceparent: `00-${traceId}-${callerSpan}-01`,
  })
  t.equal(answer.status, 200)
  const refused = await send(`${service.url}/participants/${c}/${p}/data?note=QUERY-SECRET-123`, 'POST', { attributes: { card: values[0] } }, { authorization: `Bearer ${apiKey}` })
  t.equal(refused.status, 400, 'a refused request is traced too (below)')
  const broken = await send(`${service.url}/participants/${c}/${p}/data`, 'POST', '{"attributes":{"a":JSON-BROKEN-VALUE}}', { authorization: `Bearer ${apiKey}` })
  t.match(broken.body.detail, /JSON-BROKE/, 'a JSON syntax error quotes the body to its sender (and so must not reach a span)')

  const spans = await until(() => otlp.spans(), (seen) => seen.filter((s) => s.kind === SERVER).length >= 3, { what: 'three server spans exported' })
  const inTrace = spans.filter((s) => s.traceId === traceId)
  const server = inTrace.find((s) => s.kind === SERVER)
  t.ok(server, 'a server span in the caller’s trace')
  t.equal(server?.parentSpanId, callerSpan, 'its parent is the caller’s span (traceparent continued)')
  t.equal(server?.name, 'POST /participants/:conversationId/:participantId/data', 'named after the route')
  t.equal(attr(server!, 'url.path'), `/participants/${c}/${p}/data`, 'the path with its ids, without the query string')

  const patch = inTrace.find((s) => s.kind === CLIENT && s.name.startsWith('PATCH'))
  t.ok(patch, 'a client span for the Genesys PATCH, in the same trace')
  t.equal(patch?.name, 'PATCH /api/v2/conversations/{conversationId}/participants/{participantId}/attributes', 'named after the route template')
  t.equal(attr(patch!, 'http.request.method'), 'PATCH')
  t.equal(Number(attr(patch!, 'http.response.status_code')), 202)
  t.equal(attr(patch!, 'url.template'), '/api/v2/conversations/{conversationId}/participants/{participantId}/attributes')
  t.match(JSON.stringify(attr(patch!, 'http.response.header.inin-correlation-id')), /[0-9a-f-]{36}/, 'Genesys’s inin-correlation-id')
  const byId = new Map(inTrace.map((s) => [s.spanId, s]))
  const chain: string[] = []
  for (let s = patch; s !== undefined; s = s.parentSpanId === undefined ? undefined : byId.get(s.parentSpanId)) chain.push(s.name)
  t.equal(chain.at(-1), server?.name, `the PATCH span's parents lead to the server span: ${chain.join(' < ')}`)
  t.ok(inTrace.some((s) => s.kind === CLIENT && s.name.startsWith('GET /api/v2/conversations/')), 'the read before the write has its client span')
  t.ok(inTrace.some((s) => s.name === 'queue wait'), 'the wait in the conversation’s queue is a span')
  t.ok(inTrace.some((s) => s.name === 'genesys write'), 'the batch’s write is a span')
  const servers = spans.filter((s) => s.kind === SERVER)
  t.equal(servers.length, 3, 'a server span per request, refused ones included')
  t.same(servers.map((s) => attr(s, 'url.path')), Array(3).fill(`/participants/${c}/${p}/data`), 'each with its path, never the query string')

  const all = otlp.bodies.join('\n')
  t.ok(sim.tokens.size > 0, 'the service was given a token')
  for (const secret of [clientSecret, apiKey, ...sim.tokens, 'Bearer', 'QUERY-SECRET-123']) t.notOk(all.includes(secret), `no ${secret.slice(0, 12)}… on any span`)
  for (const value of values) t.notOk(all.includes(value), `no attribute value ${value} on any span`)

  const request = service.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'request')
  t.match(request, { trace_id: traceId, span_id: /^[0-9a-f]{16}$/ }, 'the request’s log line carries its trace id')
})

t.test('OTEL_TRACES_EXPORTER=none: nothing reaches the endpoint named', async (t) => {
  const otlp = await receiver(t)
  const service = await startService(t, {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  })
  const answer = await send(`${service.url}/participants/${id()}/${id()}/data`, 'POST', { attributes: { a: 'b' } }, { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` })
  t.equal(answer.status, 200)
  // Not a pause long enough to hope: a clean exit flushes whatever a tracer holds, so once the
  // service has exited on SIGTERM, anything it would ever export has reached the receiver.
  service.child.kill('SIGTERM')
  t.equal((await service.exited).code, 0, 'exits cleanly')
  t.same(otlp.bodies, [], 'the receiver got nothing')
  t.notOk(service.stdout().includes('trace_id'), 'no log line carries a trace id')
})

t.test('no OTEL_* variable: no SDK is started and no log line carries a trace id', async (t) => {
  const lines: string[] = []
  const { app, post } = await startStack(t, {
    env: { LOG_LEVEL: 'debug' },
    deps: { logStream: { write: (l: string) => lines.push(l) } },
  })
  const answer = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } }, { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` })
  t.equal(answer.status, 200)
  t.notOk(app.hasPlugin('@fastify/otel'), 'the server instrumentation is not registered')
  t.equal(trace.getTracerProvider().getTracer('probe').startSpan('probe').isRecording(), false, 'the global tracer is the no-op one')
  t.ok(lines.length > 0)
  t.notOk(lines.join('').includes('trace_id'), 'no log line carries a trace id')
})
