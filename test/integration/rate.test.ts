import t from 'tap'
import { id, startStack, type Answer, type Teardown } from '../helpers/stack.js'
import { busiest, tally } from '../helpers/window.js'

// The real budget shape (a per-minute budget) on a 3 s window, so a test sees several windows.
const windowMs = 3000
const budget = 30

async function stack (t: Teardown, env: Record<string, string> = {}) {
  return startStack(t, {
    sim: { rateLimit: { requests: budget, windowMs }, recordRequests: true },
    env: { GENESYS_RATE_LIMIT_PER_MINUTE: String(budget), ...env },
    tune: (c) => (c.genesys.rateLimit.windowMs = windowMs),
  })
}

t.test('offered three times the budget: zero upstream 429s, never over the budget in any window', async (t) => {
  const { sim, post } = await stack(t)
  // Each update costs two requests (read, write): 45 updates per window is 90 requests, 3x.
  const sent: Array<Promise<Answer>> = []
  const started = Date.now()
  while (Date.now() - started < 3 * windowMs) {
    sent.push(post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-request-timeout-ms': '3000' }))
    await new Promise((resolve) => setTimeout(resolve, windowMs / 45))
  }
  const answers = await Promise.all(sent)
  const counts = tally(answers)
  t.comment(`offered ${answers.length} updates in ${(3 * windowMs) / 1000} s: ${JSON.stringify(counts)}`)
  t.equal(sim.stats.rateLimited, 0, 'Genesys never had to answer 429')
  const worst = busiest(sim.requests.map((r) => r.at), windowMs)
  t.ok(worst <= budget, `at most ${budget} requests in any ${windowMs} ms (busiest: ${worst})`)
  t.ok(worst >= budget * 0.7, 'and most of the budget was used')
  t.ok(counts['200']! >= 30, 'the budget went to writes that succeeded')
  const refused = answers.filter((a) => a.status !== 200)
  t.ok(refused.length > 0, 'the excess was refused')
  t.ok(
    refused.every((a) => (a.body.code === 'RATE_BUDGET_EXHAUSTED' && Number(a.headers['retry-after']) >= 1) || a.body.code === 'DEADLINE_EXCEEDED'),
    'with RATE_BUDGET_EXHAUSTED and a Retry-After, or DEADLINE_EXCEEDED when the wait ran out'
  )
})

t.test('live callers keep succeeding while a bulk flood is refused', async (t) => {
  const { sim, post } = await stack(t, { API_KEYS: 'flow:flow-key:live,sync:sync-key:bulk' })
  const live: Answer[] = []
  const bulk: Answer[] = []
  const until = Date.now() + 2 * windowMs
  const flood = async () => {
    while (Date.now() < until) {
      const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-api-key': 'sync-key' })
      bulk.push(a)
      if (a.status !== 200) await new Promise((resolve) => setTimeout(resolve, 200)) // a short pause, not Retry-After: this is a flood
    }
  }
  // 60 at a time need 120 requests: four windows' worth, more than fits any deadline.
  const flooding = Promise.all(Array.from({ length: 60 }, flood))
  await new Promise((resolve) => setTimeout(resolve, 300)) // the flood has the budget to itself first
  while (Date.now() < until) {
    live.push(await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-api-key': 'flow-key', 'x-request-timeout-ms': '3000' }))
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  await flooding
  t.comment(`live: ${JSON.stringify(tally(live))}; bulk: ${JSON.stringify(tally(bulk))}`)
  t.ok(live.length >= 3, `${live.length} live requests`)
  t.same(tally(live), { 200: live.length }, `every live request succeeded: ${JSON.stringify(tally(live))}`)
  t.ok(bulk.some((a) => a.body.code === 'RATE_BUDGET_EXHAUSTED'), 'bulk requests were refused')
  t.ok(bulk.every((a) => a.status === 200 || a.body.code === 'RATE_BUDGET_EXHAUSTED' || a.body.code === 'DEADLINE_EXCEEDED'), 'with budget codes only')
  t.equal(sim.stats.rateLimited, 0, 'and Genesys never answered 429')
})
