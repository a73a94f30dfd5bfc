import t from 'tap'
import { RateBudget, type Priority, type Ticket } from '../../src/updates/budget.js'
import type { ApiError } from '../../src/errors.js'
import { until } from '../helpers/stack.js'
import { busiest } from '../helpers/window.js'

const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'granted',
    (e: ApiError) => e.code
  )

/** Genesys answering, as it does while requests flow: no probing after an idle window. */
function answering (t: { teardown(fn: () => void): void }, budget: RateBudget) {
  budget.observe(200, {})
  const timer = setInterval(() => budget.observe(200, {}), 20)
  t.teardown(() => clearInterval(timer))
}

t.test('under a flood, no window-long interval holds more grants than the budget, and a burst gets it all at once', async (t) => {
  const windowMs = 600
  const budget = new RateBudget({ requests: 20, windowMs })
  answering(t, budget)
  const grants: number[] = []
  const start = Date.now()
  const takers = Array.from({ length: 120 }, () => budget.take('live', start + 1500).then(() => { grants.push(Date.now()) }, () => {}))
  await Promise.all(takers)
  const worst = busiest(grants, windowMs)
  t.ok(grants.filter((g) => g - start < 50).length === 20, 'the whole budget at once')
  t.ok(grants.length >= 40, `${grants.length} granted in 1.5 s`)
  t.ok(worst <= 20, `at most 20 in any ${windowMs} ms (saw ${worst})`)
})

t.test('a caller who could not be served before its deadline is refused at once, with Retry-After', async (t) => {
  const budget = new RateBudget({ requests: 10, windowMs: 1500 })
  answering(t, budget)
  await budget.reserve('live', Date.now() + 10_000, 10)
  const started = Date.now()
  const err = await budget.reserve('live', Date.now() + 500, 2).catch((e: ApiError) => e)
  t.ok(Date.now() - started < 100, 'answered at once, not after the deadline')
  t.equal((err as ApiError).code, 'RATE_BUDGET_EXHAUSTED')
  t.equal((err as ApiError).retryAfter, 2, 'Retry-After: when the units leave the window (1.5 s and 200 ms of margin)')
  t.equal(await settle(budget.reserve('live', Date.now() + 2500, 2)), 'granted', 'one who can wait for them gets them')
  t.ok(Date.now() - started >= 1400, 'when the window has passed')
})

t.test('waiting callers are served live first, then in arrival order; a promoted bulk caller is live', async (t) => {
  const budget = new RateBudget({ requests: 10, windowMs: 300 })
  answering(t, budget)
  await budget.reserve('live', Date.now() + 5000, 10)
  const order: string[] = []
  const take = (p: Priority, name: string, ticket?: Ticket) => budget.reserve(p, Date.now() + 5000, 5, ticket).then(() => { order.push(name) })
  const ticket: Ticket = {}
  const waiting = [take('bulk', 'bulk1'), take('bulk', 'bulk2', ticket), take('live', 'live1')]
  await until(() => ticket.promote !== undefined)
  ticket.promote!()
  await Promise.all(waiting)
  t.same(order, ['live1', 'bulk2', 'bulk1'], 'live, then the promoted one, then bulk')
})

t.test('a waiting caller whose deadline passes gives up its place', async (t) => {
  const budget = new RateBudget({ requests: 10, windowMs: 800 }) // and 200 ms of margin
  answering(t, budget)
  await budget.reserve('live', Date.now() + 10_000, 10)
  const started = Date.now()
  const bulk = settle(budget.reserve('bulk', Date.now() + 1100, 10))
  const live = settle(budget.reserve('live', Date.now() + 1100, 10))
  t.equal(await live, 'granted')
  t.equal(await bulk, 'RATE_BUDGET_EXHAUSTED', 'refused by its deadline rather than left waiting')
  const took = Date.now() - started
  t.ok(took < 1500, `no later than its deadline (${took} ms)`)
})

t.test("a 429 holds every request until its Retry-After; Genesys's stated limit is the one in force", async (t) => {
  const budget = new RateBudget({ requests: 100, windowMs: 60_000 })
  answering(t, budget)
  const write = await budget.reserve('live', Date.now() + 10_000, 2)
  await write.send(Date.now() + 10_000)
  budget.observe(429, { 'retry-after': '1' })
  const started = Date.now()
  t.equal(await settle(write.send(Date.now() + 500)), 'RATE_BUDGET_EXHAUSTED', 'a PATCH whose deadline comes first is not sent')
  const next = await settle(budget.reserve('live', Date.now() + 500, 2))
  t.equal(next, 'RATE_BUDGET_EXHAUSTED', 'nor is a new write reserved')
  t.equal(await settle(budget.reserve('live', Date.now() + 5000, 2)), 'granted', 'one that can wait out the pause')
  t.ok(Date.now() - started >= 900, 'after the pause')
  budget.observe(200, { 'inin-ratelimit-allowed': '60' })
  t.equal(budget.limit, 60)
  budget.observe(200, { 'inin-ratelimit-allowed': '600' })
  t.equal(budget.limit, 100, 'never above the configured limit')
})

t.test('units given back are there for the next caller', async (t) => {
  const budget = new RateBudget({ requests: 4, windowMs: 60_000 })
  answering(t, budget)
  const a = await budget.reserve('live', Date.now() + 1000, 2)
  await a.send(Date.now() + 1000)
  a.release() // the read found the conversation ended: its PATCH is never sent
  await budget.reserve('live', Date.now() + 1000, 2)
  t.equal(await settle(budget.reserve('live', Date.now() + 1000, 1)), 'granted', 'the unsent PATCH did not count')
  t.equal(await settle(budget.reserve('live', Date.now() + 1000, 1)), 'RATE_BUDGET_EXHAUSTED')
})

t.test('after an idle window, one write goes first: its answer may say Genesys allows less', async (t) => {
  const budget = new RateBudget({ requests: 100, windowMs: 60_000, hears: true })
  await budget.reserve('live', Date.now() + 5000, 2)
  let granted = false
  const next = budget.reserve('live', Date.now() + 5000, 2).then(() => { granted = true })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.notOk(granted, 'the second waits for an answer')
  budget.observe(200, { 'inin-ratelimit-allowed': '10' })
  await next
  t.equal(budget.limit, 10, 'which said 10, and the budget follows it')
})

t.test('a caller waiting on the first answer is refused as soon as that answer says the budget cannot serve it, not at its deadline', async (t) => {
  // Told 1,000; Genesys says 2 once it answers. The second write waits for that answer; then no
  // unit frees before its deadline (the window is a minute), so it hears so at once.
  let queued = false
  const budget = new RateBudget({ requests: 1000, windowMs: 60_000, hears: true, onWait: () => (queued = true) })
  await budget.reserve('live', Date.now() + 5000, 2)
  const waiting = settle(budget.reserve('live', Date.now() + 50_000, 2))
  await until(() => queued)
  budget.observe(200, { 'inin-ratelimit-allowed': '2' })
  const outcome = await Promise.race([waiting, new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting')).then((x) => x)])
  t.equal(outcome, 'RATE_BUDGET_EXHAUSTED', 'refused once the answer came, 45 s before its deadline')
})

t.test('closing answers whoever still waits, at once', async (t) => {
  let queued = false
  const budget = new RateBudget({ requests: 2, windowMs: 60_000, onWait: () => (queued = true) })
  await budget.reserve('live', Date.now() + 60_000, 2)
  const waiting = settle(budget.reserve('live', Date.now() + 120_000, 2))
  await until(() => queued)
  budget.close()
  t.equal(await waiting, 'SHUTTING_DOWN', 'not a minute later, at its deadline')
})
