import t from 'tap'
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { RateBudget, slicing, type Priority } from '../../src/updates/budget.js'
import { ApiError } from '../../src/errors.js'

const settle = (p: Promise<void>) =>
  p.then(
    () => 'granted',
    (e: ApiError) => e.code
  )

t.test('slices never let more than the budget into any window, and waste little of it', async (t) => {
  t.same(slicing(300, 60_000), { points: 27, sliceMs: 6000 }, 'Genesys default: 27 per 6 s, 270 per minute')
  for (let n = 10; n <= 5000; n++) {
    const { points, sliceMs } = slicing(n, 60_000)
    const k = 60_000 / sliceMs
    if ((k + 1) * points > n || points < 1) t.fail(`budget ${n}: ${k} slices of ${points}`)
    if (points * k < n * 0.6) t.fail(`budget ${n}: only ${points * k} usable`)
  }
  t.pass('for every budget from 10 to 5000')
})

t.test('under a flood, no window-long interval holds more grants than the budget', async (t) => {
  const windowMs = 600
  const budget = new RateBudget({ requests: 20, windowMs })
  const grants: number[] = []
  const start = Date.now()
  const takers = Array.from({ length: 120 }, () => budget.take('live', start + 1500).then(() => { grants.push(Date.now()) }, () => {}))
  await Promise.all(takers)
  grants.sort((a, b) => a - b)
  let worst = 0
  for (let i = 0, j = 0; i < grants.length; i++) {
    while (grants[i]! - grants[j]! >= windowMs) j++
    worst = Math.max(worst, i - j + 1)
  }
  t.ok(grants.length >= 20, `${grants.length} granted in 1.5 s`)
  t.ok(worst <= 20, `at most 20 in any ${windowMs} ms (saw ${worst})`)
})

t.test('a caller who could not be served before its deadline is refused at once, with Retry-After', async (t) => {
  const budget = new RateBudget({ requests: 10, windowMs: 9000 })
  t.same(budget.slice, { points: 1, ms: 1000 }, 'a small budget: nine slices of one')
  await budget.take('live', Date.now() + 10_000)
  const started = Date.now()
  const err = await budget.take('live', Date.now() + 500).catch((e: ApiError) => e)
  t.ok(Date.now() - started < 100, 'answered at once, not after the deadline')
  t.equal(err?.code, 'RATE_BUDGET_EXHAUSTED')
  t.equal(err?.retryAfter, 1, 'Retry-After: when the next slice starts')
  t.equal(await settle(budget.take('live', Date.now() + 1500)), 'granted', 'one who can wait for the next slice gets it')
  t.ok(Date.now() - started >= 900, 'in the next slice')
})

t.test('live callers go first, and bulk callers leave the last fifth of each slice to them', async (t) => {
  const budget = new RateBudget({ requests: 60, windowMs: 1800 })
  t.same(budget.slice, { points: 6, ms: 200 })
  const order: string[] = []
  const take = (p: Priority, name: string) => budget.take(p, Date.now() + 5000).then(() => { order.push(name) })
  const bulk = Array.from({ length: 6 }, (_, i) => take('bulk', `bulk${i}`))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(order, ['bulk0', 'bulk1', 'bulk2', 'bulk3', 'bulk4'], 'bulk took 5 of 6 and waits for the next slice')
  await take('live', 'live-now')
  t.equal(order.at(-1), 'live-now', 'a live caller still finds room in the same slice')
  // The slice is used up: a bulk caller already waits, then another, then a live one.
  const late = [take('bulk', 'bulk-late'), take('live', 'live-late')]
  await Promise.all([...bulk, ...late])
  t.same(order.slice(6), ['live-late', 'bulk5', 'bulk-late'], 'live overtakes bulk callers waiting in the queue')
})

t.test('a waiting caller whose deadline passes gives up its place', async (t) => {
  const budget = new RateBudget({ requests: 10, windowMs: 9000 })
  await budget.take('live', Date.now() + 10_000)
  // The bulk caller would fit in the next slice, but a live caller arrives and takes it.
  const started = Date.now()
  const bulk = settle(budget.take('bulk', Date.now() + 1500))
  const live = settle(budget.take('live', Date.now() + 1500))
  t.equal(await live, 'granted')
  t.equal(await bulk, 'RATE_BUDGET_EXHAUSTED', 'refused by its deadline rather than left waiting')
  const took = Date.now() - started
  t.ok(took >= 1400 && took < 1900, `at its deadline (${took} ms)`)
})

t.test('while a live caller waits, a bulk caller arriving in a fresh slice does not take its unit first', async (t) => {
  // A counter the test opens by hand, so "a new slice began before the budget's timer fired" is exact.
  let room = 0
  let used = 0
  const limiter = {
    async consume () {
      if (++used > room) throw new RateLimiterRes(0, 50, used, false)
      return new RateLimiterRes(room - used, 50, used, false)
    },
    async get () {
      return new RateLimiterRes(Math.max(room - used, 0), 50, used, false)
    },
  } as unknown as RateLimiterAbstract
  const budget = new RateBudget({ requests: 600, windowMs: 60_000, limiter: () => limiter })
  const order: string[] = []
  const live = budget.take('live', Date.now() + 5000).then(() => { order.push('live') })
  await new Promise((resolve) => setTimeout(resolve, 5))
  room = 1
  used = 0
  const bulk = budget.take('bulk', Date.now() + 5000).then(() => { order.push('bulk') })
  await new Promise((resolve) => setTimeout(resolve, 20))
  room = 10
  used = 0
  await Promise.all([live, bulk])
  t.same(order, ['live', 'bulk'])
})
