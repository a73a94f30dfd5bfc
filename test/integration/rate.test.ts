import t from 'tap'
import { id, startStack, until, type Answer, type Teardown } from '../helpers/stack.ts'
import { tally } from '../helpers/window.ts'

// The real budget shape (a per-minute budget) on a 3 s window, so a test sees several windows.
const windowMs = 3000
const budget = 30

async function stack (t: Teardown, env: Record<string, string> = {}, window = windowMs) {
  return startStack(t, {
    sim: { rateLimit: { requests: budget, windowMs: window }, recordRequests: true },
    env: { GENESYS_RATE_LIMIT_PER_MINUTE: String(budget), ...env },
    tune: (c) => (c.genesys.rateLimit.windowMs = window),
  })
}

t.test('offered three times the budget: zero upstream 429s, never over the budget, the excess refused', async (t) => {
  // A window far longer than the test, and callers' deadlines far shorter: no caller can wait for
  // the next window, so what reaches Genesys is counted, not timed, and a busy machine cannot
  // spread it over two windows. Each update costs two requests (read, write): 45 are 90, 3x.
  const { sim, post } = await stack(t, {}, 600_000)
  const answers = await Promise.all(Array.from({ length: 45 }, () =>
    post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-request-timeout-ms': '3000' })))
  const counts = tally(answers)
  t.comment(`offered ${answers.length} updates at once: ${JSON.stringify(counts)}; ${sim.requests.length} upstream requests`)
  t.equal(sim.stats.rateLimited, 0, 'Genesys never had to answer 429')
  t.ok(sim.requests.length <= budget, `at most ${budget} requests in the window (${sim.requests.length})`)
  t.ok(sim.requests.length >= budget * 0.7, 'and most of the budget was used')
  t.ok(counts['200']! * 2 >= budget * 0.7, `the budget went to writes that succeeded, a read and a write each (${counts['200']} written)`)
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
  const load = { stop: false }
  const flood = async () => {
    while (!load.stop) {
      const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-api-key': 'sync-key' })
      bulk.push(a)
      if (a.status !== 200) await new Promise((resolve) => setTimeout(resolve, 200)) // a short pause, not Retry-After: this is a flood
    }
  }
  // 60 at a time need 120 requests: four windows' worth, more than fits any deadline.
  const flooding = Promise.all(Array.from({ length: 60 }, flood))
  // The flood has the budget to itself first: live callers come once it is spent.
  await until(() => bulk.filter((a) => a.body?.code === 'RATE_BUDGET_EXHAUSTED').length, (n) => n > 0, { what: 'the flood refused by the budget' })
  // Five live callers one after another, each willing to wait two windows: served before the flood.
  for (let i = 0; i < 5; i++) {
    live.push(await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-api-key': 'flow-key', 'x-request-timeout-ms': String(2 * windowMs) }))
  }
  load.stop = true
  await flooding
  t.comment(`live: ${JSON.stringify(tally(live))}; bulk: ${JSON.stringify(tally(bulk))}`)
  t.same(tally(live), { 200: live.length }, `every live request succeeded: ${JSON.stringify(tally(live))}`)
  t.ok(bulk.some((a) => a.body.code === 'RATE_BUDGET_EXHAUSTED'), 'bulk requests were refused')
  t.ok(bulk.every((a) => a.status === 200 || a.body.code === 'RATE_BUDGET_EXHAUSTED' || a.body.code === 'DEADLINE_EXCEEDED'), 'with budget codes only')
  t.equal(sim.stats.rateLimited, 0, 'and Genesys never answered 429')
})
