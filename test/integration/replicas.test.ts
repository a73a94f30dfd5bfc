import t from 'tap'
import { buildSimulator } from '../../src/sim/simulator.js'
import { startService } from '../helpers/process.js'
import { startRedis } from '../helpers/redis.js'
import { id, send, startStack, type Answer, type Teardown } from '../helpers/stack.js'

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The simulator and its credentials, for service processes to use. */
async function simulator (t: Teardown, opts: Parameters<typeof buildSimulator>[0] = {}) {
  const clientId = `replicas-${id()}`
  const sim = buildSimulator({ clientId, clientSecret: 's', recordRequests: true, ...opts })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  return { sim, env: { GENESYS_CLIENT_ID: clientId, GENESYS_CLIENT_SECRET: 's', GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_RATE_LIMIT_PER_MINUTE: '1000000' } }
}

t.test('two service processes, one Redis: 200 concurrent keys on one participant, all written, never overlapping', async (t) => {
  const redis = await startRedis(t)
  t.comment(`redis: ${redis.source}`)
  const { sim, env } = await simulator(t, { writeMs: 20 })
  const [a, b] = await Promise.all([startService(t, { ...env, REDIS_URL: redis.url }), startService(t, { ...env, REDIS_URL: redis.url })])
  const c = id()
  const p = id()
  const answers = await Promise.all(
    Array.from({ length: 200 }, (_, i) => send(`${(i % 2 ? a : b)!.url}/participants/${c}/${p}/data`, 'POST', { attributes: { [`k${i}`]: String(i) } }))
  )
  const failed = answers.filter((x) => x.status !== 200)
  t.same(failed.map((x) => x.body), [], 'all 200 answered 200')
  const stored = sim.attributes(c, p) ?? {}
  t.equal(Array.from({ length: 200 }, (_, i) => stored[`k${i}`] === String(i)).filter(Boolean).length, 200, 'every key is in the final state')
  t.equal(sim.stats.conflicts, 0, 'zero 409s')
  t.equal(sim.stats.peakWritesInFlight, 1, 'never two writes at once')
  const writes = sim.stats.writes
  t.ok(writes < 100, `coalesced: ${writes} writes for 200 updates`)
  t.equal(sim.stats.tokenRequests, 1, 'one token for both processes')
})

t.test('two instances share one rate budget and one token', async (t) => {
  const redis = await startRedis(t)
  const windowMs = 3000
  const budget = 30
  const opts = {
    env: { REDIS_URL: redis.url, GENESYS_RATE_LIMIT_PER_MINUTE: String(budget) },
    tune: (c: { genesys: { rateLimit: { windowMs: number } } }) => { c.genesys.rateLimit.windowMs = windowMs },
  }
  const one = await startStack(t, { sim: { clientId: `budget-${id()}`, rateLimit: { requests: budget, windowMs }, recordRequests: true }, ...opts })
  const two = await startStack(t, { shareSimWith: one, ...opts })
  const sent: Array<Promise<Answer>> = []
  const until = Date.now() + 2 * windowMs
  for (let i = 0; Date.now() < until; i++) {
    sent.push((i % 2 ? one : two).post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-request-timeout-ms': '2000' }))
    await wait(windowMs / 45) // 3x the budget in upstream requests, from the two together
  }
  const answers = await Promise.all(sent)
  const ok = answers.filter((a) => a.status === 200).length
  t.comment(`${answers.length} offered, ${ok} written`)
  t.equal(one.sim.stats.rateLimited, 0, 'Genesys never answered 429: the budget is one, not one per instance')
  const times = one.sim.requests.map((r) => r.at).sort((x, y) => x - y)
  let worst = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= windowMs) j++
    worst = Math.max(worst, i - j + 1)
  }
  t.ok(worst <= budget, `never more than ${budget} requests in any ${windowMs} ms (busiest: ${worst})`)
  t.ok(ok > 10, 'and the budget was used')
  t.ok(answers.every((a) => a.status === 200 || ['RATE_BUDGET_EXHAUSTED', 'DEADLINE_EXCEEDED'].includes(a.body.code)))
  t.equal(one.sim.stats.tokenRequests, 1, 'a cold start of two instances made one token request')
})

t.test('an idempotent replay sent to the other instance is recognised', async (t) => {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, API_KEYS: 'crm:crm-key' }
  const one = await startStack(t, { sim: { clientId: `idem-${id()}` }, env })
  const two = await startStack(t, { shareSimWith: one, env })
  const path = `/participants/${id()}/${id()}/data`
  const headers = { 'x-api-key': 'crm-key', 'idempotency-key': 'evt-42' }
  const first = await one.post(path, { attributes: { tier: 'gold' } }, headers)
  const writes = one.sim.stats.writes
  const again = await two.post(path, { attributes: { tier: 'gold' } }, headers)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.same(again.body, first.body)
  t.equal(one.sim.stats.writes, writes, 'no second write')
  const other = await two.post(path, { attributes: { tier: 'silver' } }, headers)
  t.equal(other.body.code, 'IDEMPOTENCY_KEY_REUSED', 'and a different body is refused there too')
  // Concurrent duplicates split across the two instances: one write.
  const conversation = path.split('/')[2]
  const burst = await Promise.all([one, two, one, two].map((s) => s.post(`/conversations/${conversation}/data`, { attributes: { x: '1' } }, { ...headers, 'idempotency-key': 'evt-43' })))
  t.ok(burst.every((x) => x.status === 200))
  t.equal(burst.filter((x) => x.headers['idempotent-replayed'] === 'true').length, 3)
})

t.test('Redis down mid-load: nothing written without the lock, 503 COORDINATION_UNAVAILABLE, not ready; back: recovers', async (t) => {
  const redis = await startRedis(t)
  // A lock taken just before the outage could not be released during it: it lapses after its lease.
  const env = { REDIS_URL: redis.url, LOCK_LEASE_MS: '1000' }
  const one = await startStack(t, { sim: { clientId: `down-${id()}`, writeMs: 10 }, env })
  const two = await startStack(t, { shareSimWith: one, env })
  const c = id()
  const answers: Answer[] = []
  const load = { stop: false }
  const writer = async (s: typeof one, n: number) => {
    // Until the test says stop; another task sets it between awaits.
    for (let i = 0; !load.stop; i++) {
      answers.push(await s.post(`/participants/${c}/${id()}/data`, { attributes: { [`k${n}_${i}`]: 'v' } }, { 'x-request-timeout-ms': '1500' }))
      await wait(5)
    }
  }
  const loads = [writer(one, 1), writer(two, 2)]
  // Until both are writing (a loaded machine may take a while to get there).
  for (let i = 0; i < 100 && answers.filter((a) => a.status === 200).length <= 5; i++) await wait(50)
  t.ok(answers.filter((a) => a.status === 200).length > 5, 'writing before the outage')

  await redis.cut()
  await wait(200) // writes that held the lock when Redis went may finish
  const writesAtCut = one.sim.stats.writes
  const duringStart = answers.length
  await wait(1000)
  const during = answers.slice(duringStart)
  t.equal(one.sim.stats.writes, writesAtCut, 'no write reached Genesys while Redis was away')
  t.ok(during.length > 0 && during.every((a) => a.status === 503 && a.body.code === 'COORDINATION_UNAVAILABLE'), `every request in the outage got 503 COORDINATION_UNAVAILABLE (${during.length})`)
  t.ok(during.every((a) => a.headers['retry-after'] === '1'))
  const notReady = await send(`${one.url}/readyz`, 'GET')
  t.equal(notReady.status, 503)
  t.equal(notReady.body.code, 'COORDINATION_UNAVAILABLE')

  await redis.restore()
  const back = Date.now()
  while (Date.now() - back < 10_000 && (await send(`${one.url}/readyz`, 'GET')).status !== 200) await wait(100)
  t.comment(`ready again after ${Date.now() - back} ms`)
  await wait(1000) // a lease taken just before the outage
  const afterStart = answers.length
  await wait(1000)
  load.stop = true
  await Promise.all(loads)
  const after = answers.slice(afterStart)
  t.ok(after.length > 5 && after.every((a) => a.status === 200), `writing again without a restart (${after.length} answers, ${after.filter((a) => a.status !== 200).length} not 200)`)
  t.equal((await send(`${two.url}/readyz`, 'GET')).status, 200, 'both instances')
  t.equal(one.sim.stats.conflicts, 0)
})

t.test('a holder killed mid-write delays the next write to its conversation by no more than the lease', async (t) => {
  const redis = await startRedis(t)
  const leaseMs = 1500
  const { sim, env } = await simulator(t, { writeMs: 2500 })
  // A's write holds the conversation in the simulator for a second past the lease, so B's first
  // attempts meet 409s; enough conflict retries that jittered backoff cannot run out before then.
  const procEnv = { ...env, REDIS_URL: redis.url, LOCK_LEASE_MS: String(leaseMs), GENESYS_CONFLICT_RETRIES: '20' }
  const [a, b] = await Promise.all([startService(t, procEnv), startService(t, procEnv)])
  const c = id()
  const p = id()
  void send(`${a.url}/participants/${c}/${p}/data`, 'POST', { attributes: { from: 'a' } }).catch(() => {})
  while (sim.stats.writesInFlight === 0) await wait(10)
  a.child.kill('SIGKILL')
  const killedAt = Date.now()
  const answer = await send(`${b.url}/participants/${c}/${p}/data`, 'POST', { attributes: { from: 'b' } })
  const patches = sim.requests.filter((r) => r.method === 'PATCH' && r.at > killedAt)
  const delay = patches[0]!.at - killedAt
  t.ok(delay <= leaseMs + 300, `B's first write went out ${delay} ms after A died (lease ${leaseMs} ms)`)
  t.equal(answer.status, 200, 'and B succeeded')
  t.equal(sim.attributes(c, p)?.from, 'b')
})

t.test('Redis lost while a write holds the lock: every caller answered, the process keeps running, nothing queued is sent', async (t) => {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, LOCK_LEASE_MS: '1500' }
  const one = await startStack(t, { sim: { clientId: `cut-${id()}`, writeMs: 2500 }, env })
  const c = id()
  const p = id()
  const answers = Promise.all([0, 1, 2].map((i) => one.post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: 'v' } })))
  while (one.sim.stats.writesInFlight === 0) await wait(10)
  await redis.cut()
  const codes = (await answers).map((a) => a.body.code ?? a.status)
  t.equal(codes[0], 200, 'the write that was out when Redis went finishes')
  t.same(codes.slice(1), ['COORDINATION_UNAVAILABLE', 'COORDINATION_UNAVAILABLE'], 'the ones queued behind it are refused, not sent')
  t.equal(one.sim.stats.writes, 1)
  await wait(1200) // several lease renewals fail meanwhile: none may crash the process (tap fails on an unhandled rejection)
  t.equal((await send(`${one.url}/healthz`, 'GET')).status, 200, 'still alive')
})

t.test('a replica starts while Redis is down: not ready and refusing writes, then ready when Redis comes', async (t) => {
  const redis = await startRedis(t)
  await redis.cut()
  const one = await startStack(t, { sim: { clientId: `late-${id()}` }, env: { REDIS_URL: redis.url } })
  t.equal((await send(`${one.url}/readyz`, 'GET')).status, 503, 'started, not ready')
  const refused = await one.post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })
  t.equal(refused.body.code, 'COORDINATION_UNAVAILABLE')
  await redis.restore()
  const back = Date.now()
  while (Date.now() - back < 10_000 && (await send(`${one.url}/readyz`, 'GET')).status !== 200) await wait(100)
  t.equal((await one.post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })).status, 200, 'and writes once Redis is there')
})
