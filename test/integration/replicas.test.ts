import t from 'tap'
import { startService } from '../helpers/process.js'
import { startRedis } from '../helpers/redis.js'
import { replicaTests, simulator, wait } from '../helpers/replicas.js'
import { id, send, startStack, type Answer } from '../helpers/stack.js'

// What any topology owes (test/helpers/replicas.ts), here on one server; test/integration/cluster.test.ts runs it on a cluster.
replicaTests(t, {
  name: 'one Redis',
  start: async (t) => {
    const redis = await startRedis(t)
    return { env: { REDIS_URL: redis.url }, source: redis.source }
  },
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

t.test('a holder killed mid-write holds its conversation only until its lease lapses, not until its write would have ended', async (t) => {
  const redis = await startRedis(t)
  const leaseMs = 1500
  // A's write holds the conversation in the simulator for 3 s, twice the lease: B's first
  // PATCH must arrive while it is still held (a 409), which proves B waited for the lease and
  // not for anything of A's. Ordered by the simulator's own record, not by a wall-clock window,
  // so a loaded machine cannot fail it. Enough conflict retries that backoff outlasts A's write.
  const { sim, env } = await simulator(t, { writeMs: 3000 })
  const procEnv = { ...env, REDIS_URL: redis.url, LOCK_LEASE_MS: String(leaseMs), GENESYS_CONFLICT_RETRIES: '20' }
  const [a, b] = await Promise.all([startService(t, procEnv), startService(t, procEnv)])
  const c = id()
  const p = id()
  void send(`${a.url}/participants/${c}/${p}/data`, 'POST', { attributes: { from: 'a' } }).catch(() => {})
  while (sim.stats.writesInFlight === 0) await wait(10)
  const aPatch = sim.requests.find((r) => r.method === 'PATCH')!
  a.child.kill('SIGKILL')
  const answer = await send(`${b.url}/participants/${c}/${p}/data`, 'POST', { attributes: { from: 'b' } })
  const bPatches = sim.requests.filter((r) => r.method === 'PATCH' && r !== aPatch)
  t.equal(bPatches[0]?.status, 409, "B's first write arrived while A's was still held in Genesys: B waited for the lease only")
  // The lock held while A lived: B's first write came no sooner than the lease can lapse after A's last renewal.
  t.ok(bPatches[0]!.at - aPatch.at >= leaseMs - leaseMs / 3, `B's first write went out ${bPatches[0]!.at - aPatch.at} ms after A's (lease ${leaseMs} ms)`)
  t.equal(answer.status, 200, 'and B succeeded', { code: answer.body?.code })
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
