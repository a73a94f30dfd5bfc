import t from 'tap'
import { id, startStack, until } from '../helpers/stack.ts'

const since = (start: number) => Date.now() - start

t.test('a request with a 1 s deadline queued behind a slow write: 504 in about 1 s, and never written', async (t) => {
  const { sim, post, url } = await startStack(t, { sim: { writeMs: 2500 } })
  const c = id()
  const p = id()
  let slowAnswered = false
  const slow = post(`/participants/${c}/${p}/data`, { attributes: { first: 'slow' } }).finally(() => (slowAnswered = true))
  await until(() => sim.stats.writesInFlight === 1) // the slow write is out
  const start = Date.now()
  const late = await post(`/participants/${c}/${p}/data`, { attributes: { second: 'late' } }, { 'x-request-timeout-ms': '1000' })
  const took = since(start)
  t.equal(late.status, 504)
  t.equal(late.body.code, 'DEADLINE_EXCEEDED')
  t.match(late.body.detail, /not applied/)
  t.ok(took >= 950, `answered at its deadline, not before (${took} ms)`)
  t.notOk(slowAnswered, 'and before the slow write it waited behind was answered')
  t.equal((await slow).status, 200, 'the slow write itself succeeded')
  const queued = async () => Number((await (await fetch(`${url}/metrics`)).text()).match(/^pdg_queue_updates (\d+)$/m)?.[1])
  t.equal(await queued(), 0, 'nothing is left queued to go out later')
  t.same(sim.attributes(c, p), { first: 'slow' }, 'the late update never reached Genesys')
  t.equal(sim.stats.writes, 1)
})

t.test('a write still on the wire at the deadline is answered UPSTREAM_OUTCOME_UNKNOWN, in time', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 1500 } })
  const c = id()
  const p = id()
  const a = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, { 'x-request-timeout-ms': '600' })
  t.equal(a.status, 502)
  t.equal(a.body.code, 'UPSTREAM_OUTCOME_UNKNOWN')
  t.equal(sim.stats.writesInFlight, 1, 'answered at the deadline, while Genesys was still writing')
  await until(() => sim.stats.writes === 1)
  t.equal(sim.attributes(c, p)?.tier, 'gold', 'here it did land: "unknown" was the truthful answer')
})

t.test('REQUEST_TIMEOUT_MS is every request\'s deadline, and a caller may only shorten it', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 1000 }, env: { REQUEST_TIMEOUT_MS: '400' } })
  const c = id()
  const p = id()
  const first = post(`/participants/${c}/${p}/data`, { attributes: { a: '1' } })
  await until(() => sim.stats.writesInFlight === 1)
  const second = await post(`/participants/${c}/${p}/data`, { attributes: { b: '1' } }, { 'x-request-timeout-ms': '5000' })
  t.equal(second.body.code, 'DEADLINE_EXCEEDED')
  t.equal(sim.stats.writes, 0, 'the longer deadline asked for was cut to REQUEST_TIMEOUT_MS: answered before the write ahead of it landed')
  t.equal((await first).body.code, 'UPSTREAM_OUTCOME_UNKNOWN', 'the first, on the wire past 400 ms')
})

t.test('a bad deadline header is a 400 that names the header', async (t) => {
  const { post } = await startStack(t)
  for (const value of ['soon', '50', '499', '1.5', '-100', '']) {
    const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-request-timeout-ms': value })
    t.equal(a.status, 400, JSON.stringify(value))
    t.equal(a.body.code, 'INVALID_HEADER')
    t.same(a.body.errors, [{ in: 'header', path: '/x-request-timeout-ms', message: 'must be a whole number of milliseconds, at least 500' }])
  }
  const ok = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-request-timeout-ms': '3000' })
  t.equal(ok.status, 200, 'a good one is simply used')
})

t.test('past the queue bound, updates are refused at once with 503 OVERLOADED and Retry-After', async (t) => {
  const { sim, post, url } = await startStack(t, { sim: { writeMs: 1000 }, env: { MAX_QUEUED_PER_CONVERSATION: '3' } })
  const c = id()
  const p = id()
  const accepted = Array.from({ length: 3 }, (_, i) => post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: 'v' } }))
  const queued = async () => Number((await (await fetch(`${url}/metrics`)).text()).match(/^pdg_queue_updates (\d+)$/m)?.[1])
  let held = 0
  while (held < 3) held = await queued() // all three in
  const refused = await post(`/participants/${c}/${p}/data`, { attributes: { extra: 'v' } })
  t.equal(sim.stats.writes, 0, 'at once, before even the first write landed, not after the deadline')
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'OVERLOADED')
  t.equal(refused.headers['retry-after'], '1')
  t.ok((await Promise.all(accepted)).every((a) => a.status === 200), 'those already accepted are all written')
  t.same(Object.keys(sim.attributes(c, p)!).sort(), ['k0', 'k1', 'k2'])
  const other = await post(`/participants/${id()}/${p}/data`, { attributes: { a: '1' } })
  t.equal(other.status, 200, 'the bound is per conversation')
})
