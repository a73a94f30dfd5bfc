import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { buildSimulator } from '../../src/sim/simulator.js'
import { id, startStack, until, type Answer, type Stack, type Teardown } from '../helpers/stack.js'
import { busiest, tally } from '../helpers/window.js'

// Issue 28: bursts of flow writes at the limit, against the simulator's sliding-window budget.
// A 4 s window stands for Genesys's minute; deadlines are shorter than it, so what does not fit
// the window is refused, not carried into the next one.
const windowMs = 4000
const deadline = { 'x-request-timeout-ms': '2000' }

/** One or two replicas (sharing a Redis) in front of one simulator whose token allows `allowed` per window. */
async function stacks (t: Teardown, replicas: 1 | 2, allowed: number, configured: number): Promise<Stack[]> {
  const redis = replicas === 2 ? await startRedis(t) : undefined
  const opts = {
    env: { GENESYS_RATE_LIMIT_PER_MINUTE: String(configured), ...(redis && { REDIS_URL: redis.url }) },
    tune: (c: { genesys: { rateLimit: { windowMs: number } } }) => { c.genesys.rateLimit.windowMs = windowMs },
  }
  const one = await startStack(t, { sim: { clientId: `burst-${id()}`, rateLimit: { requests: allowed, windowMs }, recordRequests: true }, ...opts })
  return replicas === 1 ? [one] : [one, await startStack(t, { shareSimWith: one, ...opts })]
}

/** `n` flow writes to different conversations, all sent at once, spread over the replicas. */
function burst (replicas: Stack[], n: number, headers = deadline): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => replicas[i % replicas.length]!.post(`/participants/${id()}/${id()}/data`, { attributes: { a: String(i) } }, headers)))
}

for (const replicas of [1, 2] as const) {
  const on = replicas === 1 ? 'one replica' : 'two replicas sharing Redis'

  t.test(`${on}: from idle, a burst of the whole budget is written at once; the next burst gets what is left, and no more`, async (t) => {
    const n = 60 // requests per window, here and at the simulator: 30 merge writes
    const s = await stacks(t, replicas, n, n)
    const { sim } = s[0]!
    const first = await burst(s, 20)
    t.same(tally(first), { 200: 20 }, 'the first burst (40 requests) is written')
    const second = await burst(s, 20)
    const counts = tally(second)
    t.comment(`second burst: ${JSON.stringify(counts)}`)
    t.equal(counts['200'], 10, 'the second gets the 20 requests left: 10 writes')
    t.equal(counts['503 RATE_BUDGET_EXHAUSTED'], 10, 'the rest are refused at once')
    t.ok(second.filter((a) => a.status !== 200).every((a) => Number(a.headers['retry-after']) >= 1), 'with a Retry-After')
    t.equal(sim.stats.rateLimited, 0, 'zero upstream 429s')
    t.equal(sim.stats.reads, sim.stats.writes, 'every read was for a write that was then made: nothing spent on a refused write')
    t.equal(sim.requests.length, n, 'the budget, exactly')
    t.ok(busiest(sim.requests.map((r) => r.at), windowMs) <= n, `never more than ${n} requests in any ${windowMs} ms`)
  })

  t.test(`${on}: when Genesys allows less than configured, its answers set the budget: a handful of 429s at most`, async (t) => {
    const allowed = 20
    const s = await stacks(t, replicas, allowed, 1000)
    const { sim } = s[0]!
    const answers = await burst(s, 30)
    const counts = tally(answers)
    t.comment(`${JSON.stringify(counts)}; upstream 429s: ${sim.stats.rateLimited}`)
    t.ok(sim.stats.rateLimited <= 3, `at most a handful of upstream 429s (${sim.stats.rateLimited})`)
    t.equal(counts['200'], allowed / 2, "the writes that fit Genesys's limit are written")
    t.ok(answers.every((a) => a.status === 200 || a.body.code === 'RATE_BUDGET_EXHAUSTED'), 'the rest are refused by the budget')
    t.ok(busiest(sim.requests.filter((r) => r.status !== 429).map((r) => r.at), windowMs) <= allowed, 'Genesys never had to refuse for the window')
    const metrics = await fetch(`${s[0]!.url}/metrics`).then((r) => r.text())
    t.match(metrics, new RegExp(`^pdg_rate_budget_limit ${allowed}$`, 'm'), '/metrics shows the limit in force')
  })
}

t.test('a 429 pauses every replica sharing Redis until its Retry-After, and what waited is then written', async (t) => {
  const redis = await startRedis(t)
  // Genesys answers the first API request 429 with Retry-After: 2 and nothing else: something
  // else spent the token's budget, and only this answer says so.
  const sim = buildSimulator({ clientId: 'test-client', clientSecret: 'test-secret', recordRequests: true })
  let first = true
  sim.app.addHook('onRequest', (req, reply, done) => {
    if (first && req.url.startsWith('/api/')) {
      first = false
      sim.stats.rateLimited++
      reply.code(429).header('retry-after', '2').send({ status: 429, code: 'too.many.requests', message: 'Rate limit exceeded' })
    } else done()
  })
  const simUrl = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const env = { REDIS_URL: redis.url, GENESYS_API_URL: simUrl, GENESYS_LOGIN_URL: simUrl, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }
  const [a, b] = [await startStack(t, { env }), await startStack(t, { env })]
  const firstWrite = a.post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })
  await until(() => sim.stats.rateLimited === 1)
  const rest = burst([a, b], 20, { 'x-request-timeout-ms': '5000' })
  const answers = [await firstWrite, ...(await rest)]
  t.same(tally(answers), { 200: 21 }, 'all written once the pause was over (their deadlines allow it)')
  t.equal(sim.stats.rateLimited, 1, 'one upstream 429, not one per request')
  // Times as the simulator saw them: the 429 left it at `refused`, so the pause ends after refused + 2 s.
  const refused = sim.requests.find((r) => r.status === 429)!.at
  const after = sim.requests.filter((r) => r.at > refused)
  t.ok(after.length >= 42, `${after.length} requests after the 429`)
  t.ok(after.every((r) => r.at >= refused + 2000), 'none of them, from either replica, before its Retry-After')
})
