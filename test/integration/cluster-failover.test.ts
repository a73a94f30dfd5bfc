import t from 'tap'
import { startRedisCluster } from '../helpers/redis.ts'
import { id, send, startReplicas, startStack, until, type Answer } from '../helpers/stack.ts'

t.test('the node holding a conversation\'s lock is lost mid-write: no second writer, 503 for that conversation, the rest written; back: recovers', async (t) => {
  const cluster = await startRedisCluster(t)
  // The conversation's lock lives on one node; the budget and token ({genesys-api}) on another,
  // so the loss is partial, as it is for most conversations in a real cluster.
  const clientId = `failover-${id()}`
  const shared = await cluster.portFor('{genesys-api}')
  const on = async (wanted: (conversation: string) => Promise<boolean>) => {
    for (;;) {
      const c = id()
      if (await wanted(c)) return c
    }
  }
  const c = await on(async (c) => (await cluster.portFor(`{c:${c}}`)) !== shared)
  const lost = await cluster.portFor(`{c:${c}}`)
  const elsewhere = await on(async (c) => (await cluster.portFor(`{c:${c}}`)) !== lost)
  const p = id()
  const env = { REDIS_CLUSTER_NODES: cluster.nodes, LOCK_LEASE_MS: '1500' }
  const [a, b] = await startReplicas(t, { sim: { clientId, writeMs: 2000, recordRequests: true }, env })
  const sim = a.sim
  const patchesTo = (conversation: string) => sim.requests.filter((r) => r.method === 'PATCH' && r.path.includes(`/${conversation}/`))

  let firstAnswered = false
  const first = a.post(`/participants/${c}/${p}/data`, { attributes: { from: 'a' } }).finally(() => { firstAnswered = true })
  await until(() => sim.stats.writesInFlight, (n) => n > 0, { what: "A's write out" })
  await cluster.stop(lost)
  t.comment(`stopped node ${lost} (conversation ${c}'s slot) while A's write held its lock`)

  // While it is down, and while A's write is still out: B tries the conversation, and so does A
  // (whose request waits behind its own write in its queue, then finds the lock unreachable).
  const fromA = a.post(`/participants/${c}/${p}/data`, { attributes: { from: 'a2' } })
  const during: Answer[] = []
  for (let i = 0; i < 4; i++) {
    during.push(await b.post(`/participants/${c}/${p}/data`, { attributes: { from: `b${i}` } }))
    // Promptly: by order, not by a stopwatch. B did not wait for the lock's holder to finish.
    t.notOk(firstAnswered, `B's answer ${i + 1} came while A's write was still out`)
  }
  during.push(await fromA)
  t.same(during.map((x) => x.body.code), during.map(() => 'COORDINATION_UNAVAILABLE'), 'every write to that conversation got 503 COORDINATION_UNAVAILABLE')
  t.ok(during.every((x) => x.status === 503 && x.headers['retry-after'] === '1'))
  const other = await b.post(`/participants/${elsewhere}/${id()}/data`, { attributes: { x: '1' } })
  t.equal(other.status, 200, 'a conversation whose slot is on a live node is written meanwhile')
  t.equal((await send(`${b.url}/readyz`, 'GET')).status, 200, 'and the replicas stay ready: the slot every write needs is up')
  t.equal((await first).status, 200, 'A\'s write, out when the node went, finishes')
  t.equal(patchesTo(c).length, 1, 'no second write to the conversation went out while its lock was unreachable')
  t.equal(sim.stats.conflicts, 0, 'never two writers (Genesys would have answered 409)')
  t.equal(sim.attributes(c, p)?.from, 'a')

  await cluster.start(lost)
  const again = await until(() => b.post(`/participants/${c}/${p}/data`, { attributes: { from: 'b' } }), (x) => x.status === 200, { what: 'a write to the conversation succeeding once its node is back' })
  t.equal(again.status, 200, 'writes to the conversation succeed again once the node is back')
  const both = await Promise.all([a, b].map((s, i) => s.post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: 'v' } })))
  t.same(both.map((x) => x.body.code ?? x.status), [200, 200], 'through both replicas')
  t.equal(sim.stats.conflicts, 0, 'still never two writers')
  t.equal(sim.attributes(c, p)?.from, 'b')
})

t.test('the node holding the budget and the token is lost: nothing is written and replicas say not ready; back: ready and writing', async (t) => {
  const cluster = await startRedisCluster(t)
  const lost = await cluster.portFor('{genesys-api}')
  let c: string
  do c = id(); while ((await cluster.portFor(`{c:${c}}`)) === lost)
  const a = await startStack(t, { sim: { clientId: `failover-budget-${id()}` }, env: { REDIS_CLUSTER_NODES: cluster.nodes } })
  t.equal((await a.post(`/participants/${c}/${id()}/data`, { attributes: { x: '1' } })).status, 200, 'writing before')
  await cluster.stop(lost)
  const ready = await send(`${a.url}/readyz`, 'GET')
  t.equal(ready.status, 503, 'not ready')
  t.equal(ready.body.code, 'COORDINATION_UNAVAILABLE')
  const writes = a.sim.stats.writes
  const refused = await a.post(`/participants/${c}/${id()}/data`, { attributes: { x: '2' } })
  t.equal(refused.body.code, 'COORDINATION_UNAVAILABLE', 'a conversation on a live node is refused too: the budget is unreachable')
  t.equal(a.sim.stats.writes, writes, 'and nothing was sent')
  await cluster.start(lost)
  await until(async () => (await send(`${a.url}/readyz`, 'GET')).status, (s) => s === 200, { what: "ready again after the node's restart" })
  t.equal((await send(`${a.url}/readyz`, 'GET')).status, 200, "ready again after the node's restart")
  t.equal((await a.post(`/participants/${c}/${id()}/data`, { attributes: { x: '3' } })).status, 200, 'and writing')
})
