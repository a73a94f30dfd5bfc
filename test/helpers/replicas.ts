import type { Test } from 'tap'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { startService } from './process.ts'
import { id, send, startStack, TEST_READ_LAG_MS, type Teardown } from './stack.ts'
import { tally } from './window.ts'

/** A Redis for replicas to share, however it is laid out: what the service is given, and a name. */
export interface Topology {
  /** Says what the replicas share, in test names: "one Redis", "a Redis Cluster". */
  name: string
  start(t: Teardown): Promise<{ env: Record<string, string>; source: string }>
}

/** The simulator and its credentials, for service processes to use. */
export async function simulator (t: Teardown, opts: Parameters<typeof buildSimulator>[0] = {}) {
  const clientId = `replicas-${id()}`
  const sim = buildSimulator({ clientId, clientSecret: 's', recordRequests: true, readLagMs: TEST_READ_LAG_MS, ...opts })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  return { sim, env: { GENESYS_CLIENT_ID: clientId, GENESYS_CLIENT_SECRET: 's', GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_RATE_LIMIT_PER_MINUTE: '1000000' } }
}

/**
 * What several replicas owe each other through a shared Redis, whatever its topology: one
 * writer per conversation, one token, one request budget, idempotency across replicas.
 */
export function replicaTests (tap: Test, topology: Topology): void {
  tap.test(`two service processes, ${topology.name}: 200 concurrent keys on one participant, all written, never overlapping`, async (t) => {
    const redis = await topology.start(t)
    t.comment(`redis: ${redis.source}`)
    // Genesys replacing the map, and showing each write late: a late read written back would lose keys.
    const { sim, env } = await simulator(t, { writeMs: 20, semantics: 'replace', readLagMs: 300 })
    const [a, b] = await Promise.all([startService(t, { ...env, ...redis.env }), startService(t, { ...env, ...redis.env })])
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

  tap.test(`two instances, ${topology.name}: one rate budget and one token`, async (t) => {
    const redis = await topology.start(t)
    // A window far longer than the test and callers' deadlines far shorter than it: no caller can
    // wait for the next window, so what reaches Genesys is counted, not timed. One budget shared:
    // exactly `budget` requests; one per instance: twice that, and Genesys's own limit answers 429.
    const windowMs = 600_000
    const budget = 30
    const opts = {
      env: { ...redis.env, GENESYS_RATE_LIMIT_PER_MINUTE: String(budget) },
      tune: (c: { genesys: { rateLimit: { windowMs: number } } }) => { c.genesys.rateLimit.windowMs = windowMs },
    }
    const one = await startStack(t, { sim: { clientId: `budget-${id()}`, rateLimit: { requests: budget, windowMs }, recordRequests: true }, ...opts })
    const two = await startStack(t, { shareSimWith: one, ...opts })
    // 3x the budget, half to each instance.
    const answers = await Promise.all(Array.from({ length: 3 * budget }, (_, i) =>
      (i % 2 ? one : two).post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-request-timeout-ms': '2000' })))
    const ok = answers.filter((a) => a.status === 200).length
    t.comment(`${answers.length} offered, ${ok} written: ${JSON.stringify(tally(answers))}`)
    const requests = one.sim.requests.length
    t.equal(one.sim.stats.rateLimited, 0, 'Genesys never answered 429: the budget is one, not one per instance')
    t.ok(requests <= budget, `no more than ${budget} requests reached Genesys (${requests})`)
    // Each update costs two requests (read, write).
    t.ok(ok * 2 >= budget * 0.7, `and the budget went to writes that succeeded (${ok} written)`)
    t.same(answers.filter((a) => a.status !== 200 && !['RATE_BUDGET_EXHAUSTED', 'DEADLINE_EXCEEDED'].includes(a.body.code)).map((a) => a.body), [], 'the rest refused by the budget or their deadline')
    t.equal(one.sim.stats.tokenRequests, 1, 'a cold start of two instances made one token request')
  })

  tap.test(`two instances, ${topology.name}: an idempotent replay sent to the other instance is recognised`, async (t) => {
    const redis = await topology.start(t)
    const env = { ...redis.env, API_KEYS: 'crm:crm-key' }
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
}
