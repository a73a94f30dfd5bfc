import { request } from 'node:http'
import t from 'tap'
import { CLIENT, receiver, SERVER } from '../helpers/otlp.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, startStack, until } from '../helpers/stack.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'

// In this process (tap gives each test file its own): the SDK reads the OTEL_* variables from the
// process environment, so they are set before the app is built, and no other test shares them.
const exportTo = (url: string) => Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' })

// Requests go out through node:http: the undici instrumentation, on in this process, would put
// a traceparent of its own on the test's undici requests.
async function send (url: string, body: unknown, traceparent: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', traceparent } }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}
t.test('the pipeline’s waits and retries, in the request’s trace', async (t) => {
  const otlp = await receiver(t)
  exportTo(otlp.url)
  const redis = await startRedis(t)
  // Genesys fails the first PATCH: the write is retried.
  const sim = buildSimulator({ clientId: 'test-client', clientSecret: 'test-secret' })
  let patches = 0
  sim.app.addHook('onRequest', (req, reply, done) => {
    if (req.method === 'PATCH' && patches++ === 0) reply.code(503).send({ status: 503, code: 'service.unavailable', message: 'try again' })
    else done()
  })
  const simUrl = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const stack = await startStack(t, {
    env: { REDIS_URL: redis.url, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, GENESYS_API_URL: simUrl, GENESYS_LOGIN_URL: simUrl },
    // Three requests in any 2 s: the retry (a read and a write) waits for the first attempt's to leave the window.
    tune: (config) => (config.genesys.rateLimit = { requests: 3, windowMs: 2000, configured: 3 }),
  })
  const traceId = '0af7651916cd43dd8448eb211c80319c'
  const c = id()
  const p = id()
  const answer = await send(`${stack.url}/participants/${c}/${p}/data`, { attributes: { a: 'b' } }, `00-${traceId}-b7ad6b7169203331-01`)
  t.equal(answer.status, 200)
  t.equal(answer.body.attempts, 2, 'written at the second attempt')

  const spans = await until(() => otlp.spans().filter((s) => s.traceId === traceId), (seen) => seen.some((s) => s.kind === SERVER), { what: 'the request span exported' })
  const named = (name: string) => spans.filter((s) => s.name === name)
  const [write] = named('genesys write')
  t.ok(write, 'the write has its span')
  t.equal(named('queue wait').length, 1, 'the caller’s wait in the queue')
  t.equal(named('conversation lock')[0]?.parentSpanId, write?.spanId, 'the conversation lock (several replicas) is taken within the write')
  t.ok(named('rate budget wait').length >= 1, 'a wait for the request budget is a span')
  t.ok(named('rate budget wait').every((s) => s.parentSpanId === write?.spanId), 'under the write')
  const patchSpans = spans.filter((s) => s.kind === CLIENT && s.name.startsWith('PATCH'))
  t.equal(patchSpans.length, 2, 'each attempt has its client span')
  t.ok(patchSpans.every((s) => s.parentSpanId === write?.spanId), 'both under the write')
  t.match(write?.events, [{ name: 'retry', attributes: [{ key: 'pdg.retry.cause', value: { stringValue: 'server' } }, { key: 'pdg.retry.delay_ms' }] }], 'the retry is an event on the write, with its cause and pause')
})

// Also shows that an app built after another closed traces again (the SDK is let go at close).
t.test('callers coalesced into one write: the write is in the first one’s trace, linked to the others', async (t) => {
  const otlp = await receiver(t)
  exportTo(otlp.url)
  const stack = await startStack(t, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url }, sim: { writeMs: 300 } })
  const c = id()
  const p = id()
  const traces = ['1'.repeat(32), '2'.repeat(32), '3'.repeat(32)]
  const answers = []
  for (const [i, tr] of traces.entries()) {
    answers.push(send(`${stack.url}/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: 'v' } }, `00-${tr}-${'a'.repeat(16)}-01`))
    // In this order: the first one's write out, then each caller waiting behind it.
    if (i === 0) await until(() => stack.sim.stats.writesInFlight, (n) => n === 1, { what: "the first caller's write out" })
    await until(() => stack.app.services.updates.callers, (n) => n === i + 1, { what: `${i + 1} callers waiting` })
  }
  t.same((await Promise.all(answers)).map((a) => a.status), [200, 200, 200])
  const spans = await until(() => otlp.spans(), (seen) => seen.filter((s) => s.kind === SERVER).length >= 3, { what: 'the three request spans exported' })
  const writes = spans.filter((s) => s.name === 'genesys write')
  t.equal(writes.length, 2, 'the first caller’s write, then one for the two that waited behind it')
  const second = writes.find((s) => s.traceId === traces[1])
  t.ok(second, 'the second write is in the trace of the first caller it carries')
  t.same(second?.links?.map((l) => l.traceId), [traces[2]], 'and linked to the other caller’s request')
})

t.test('a write that fails: its span says so by status, with no description', async (t) => {
  const otlp = await receiver(t)
  exportTo(otlp.url)
  // Strict: an unknown conversation is Genesys's 404.
  const stack = await startStack(t, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url }, sim: { strict: true } })
  const answer = await send(`${stack.url}/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } }, `00-${'4'.repeat(32)}-${'a'.repeat(16)}-01`)
  t.equal(answer.status, 404)
  const spans = await until(() => otlp.spans(), (seen) => seen.some((s) => s.kind === SERVER), { what: 'the request span exported' })
  const write = spans.find((s) => s.name === 'genesys write')
  t.same(write?.status, { code: 2, message: 'upstream 404' }, 'the write failed: what Genesys answered, and nothing it said')
  t.same(spans.find((s) => s.kind === SERVER)?.status, { code: 2 }, 'the request span: an error, without its message')
})
