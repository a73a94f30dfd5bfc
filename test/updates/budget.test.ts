import t from 'tap'
import { logSettings, RateBudget, type Priority, type Ticket } from '../../src/updates/budget.js'
import { MemoryBudgetLog } from '../../src/updates/budget-log.js'
import type { ApiError } from '../../src/errors.js'
import { until } from '../helpers/stack.js'
import { busiest } from '../helpers/window.js'

const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'granted',
    (e: ApiError) => e.code
  )

t.test('under a flood, no window-long interval holds more grants than the budget, and a burst gets it all at once', async (t) => {
  const windowMs = 600
  const budget = new RateBudget({ requests: 20, windowMs })
  const grants: number[] = []
  const order: number[] = []
  const start = Date.now()
  const takers = Array.from({ length: 120 }, (_, i) => budget.take('live', start + 1500).then(() => { grants.push(Date.now()); order.push(i) }, () => {}))
  await Promise.all(takers)
  const worst = busiest(grants, windowMs)
  // The whole budget at once, by order rather than by a wall-clock window a loaded machine overruns:
  // the first 20 callers are served together, and the 21st only once the first has left the window.
  t.same(order.slice(0, 20).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i), 'the whole budget at once: the first 20 callers')
  t.ok(grants[20]! - grants[0]! >= windowMs && grants[19]! - grants[0]! < grants[20]! - grants[19]!, `then a wait for the window (first 20 within ${grants[19]! - grants[0]!} ms, the 21st ${grants[20]! - grants[0]!} ms after the first)`)
  t.ok(grants.length >= 40, `${grants.length} granted in 1.5 s`)
  t.ok(worst <= 20, `at most 20 in any ${windowMs} ms (saw ${worst})`)
})

t.test('a caller who could not be served before its deadline is refused at once, with Retry-After', async (t) => {
  const budget = new RateBudget({ requests: 10, windowMs: 1500 })
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
  await budget.reserve('live', Date.now() + 10_000, 10)
  const started = Date.now()
  const bulk = settle(budget.reserve('bulk', Date.now() + 1100, 10))
  const live = settle(budget.reserve('live', Date.now() + 1100, 10))
  t.equal(await live, 'granted')
  t.equal(await bulk, 'RATE_BUDGET_EXHAUSTED', 'refused by its deadline rather than left waiting')
  const took = Date.now() - started
  t.ok(took < 1500, `no later than its deadline (${took} ms)`)
})

t.test('a 429 holds every request until its Retry-After', async (t) => {
  const budget = new RateBudget({ requests: 100, windowMs: 1000 })
  for (let i = 0; i < 10; i++) await budget.take('live', Date.now() + 1000)
  const write = await budget.reserve('live', Date.now() + 10_000, 2)
  await write.send(Date.now() + 10_000)
  budget.observe(429, { 'retry-after': '1' })
  const started = Date.now()
  t.equal(await settle(write.send(Date.now() + 500)), 'RATE_BUDGET_EXHAUSTED', 'a PATCH whose deadline comes first is not sent')
  const next = await settle(budget.reserve('live', Date.now() + 500, 2))
  t.equal(next, 'RATE_BUDGET_EXHAUSTED', 'nor is a new write reserved')
  t.equal(await settle(budget.reserve('live', Date.now() + 5000, 2)), 'granted', 'one that can wait out the pause')
  t.ok(Date.now() - started >= 900, 'after the pause')
})

/** A budget on a clock the test moves: nothing here waits on the wall clock. */
function clocked (opts: { requests: number; windowMs: number; log?: () => MemoryBudgetLog }) {
  const clock = { now: 1_000_000 }
  const budget = new RateBudget({ ...opts, clock: () => clock.now })
  return { clock, budget }
}

/** `n` merge writes reserved at once; the reads of the first `reads` and the PATCHes of the first `patches` sent. */
async function writes (budget: RateBudget, now: number, n: number, reads: number, patches: number) {
  const held = []
  for (let i = 0; i < n; i++) held.push(await budget.reserve('live', now + 10_000, 2))
  for (const r of held.slice(0, reads)) await r.send(now + 10_000)
  for (const r of held.slice(0, patches)) await r.send(now + 10_000)
  return held
}

t.test('on a 429 the limit becomes what Genesys allowed; it holds five windows, then climbs back a step a window, never above the configured one', async (t) => {
  const minute = 60_000
  const { clock, budget } = clocked({ requests: 100, windowMs: minute })
  const start = clock.now
  // 30 flows at once: 30 reads and 10 PATCHes went out, and one of them met a 429.
  await writes(budget, start, 30, 30, 10)
  clock.now += 1000
  budget.observe(429, { 'retry-after': '30' })
  t.equal(await settle(budget.reserve('live', clock.now + 1000, 2)), 'RATE_BUDGET_EXHAUSTED', 'paused')
  t.equal(budget.limit, 39, 'Genesys allowed 39 of the 40 requests sent')
  clock.now = start + 2 * minute // the pause and the window are over
  const granted = await writes(budget, clock.now, 19, 0, 0)
  t.equal(granted.length, 19, '19 writes (38 requests) fit')
  t.equal(await settle(budget.reserve('live', clock.now + 1000, 2)), 'RATE_BUDGET_EXHAUSTED', 'a 20th does not: 40 > 39')
  for (const r of granted) r.release()
  const learnedAt = start + 1000
  const limitAt = async (at: number) => {
    clock.now = at
    return (await budget.standing()).limit
  }
  t.equal(await limitAt(learnedAt + 5 * minute - 1), 39, 'held for five windows')
  const climb = []
  for (let k = 0; k < 12; k++) climb.push(await limitAt(learnedAt + (5 + k) * minute))
  t.same(climb, [42, 46, 50, 55, 60, 66, 72, 79, 86, 94, 100, 100], 'then a tenth of itself more each window, up to the configured 100')
  t.same(await budget.standing(), { limit: 100, pausedMs: 0 }, 'nothing learned holds any more')
})

t.test('requests that got no answer are no evidence: they neither pause nor count as allowed', async (t) => {
  const { clock, budget } = clocked({ requests: 100, windowMs: 60_000 })
  await writes(budget, clock.now, 10, 10, 0)
  budget.observe(0, {})
  budget.observe(0, {})
  budget.observe(0, {})
  t.equal(await settle(budget.reserve('live', clock.now + 1000, 2)), 'granted', 'not paused')
  t.equal(budget.limit, 100, 'nor lowered')
  budget.observe(429, { 'retry-after': '5' })
  await settle(budget.reserve('live', clock.now + 1000, 2))
  t.equal(budget.limit, 10 - 3 - 1, 'of 10 reads sent, three unanswered and one refused: 6 allowed')
})

t.test("a unit held when another replica hears a 429 waits for that replica's pause", async (t) => {
  // Two replicas' budgets over one shared log (Redis, in service).
  const clock = { now: 1_000_000 }
  const shared = new MemoryBudgetLog(logSettings(100, 60_000))
  const a = new RateBudget({ requests: 100, windowMs: 60_000, clock: () => clock.now, log: () => shared })
  const b = new RateBudget({ requests: 100, windowMs: 60_000, clock: () => clock.now, log: () => shared })
  const write = await a.reserve('live', clock.now + 10_000, 2)
  await write.send(clock.now + 10_000) // its read
  b.observe(429, { 'retry-after': '5' })
  t.equal(await settle(write.send(clock.now + 3000)), 'RATE_BUDGET_EXHAUSTED', "a's PATCH, held already, is not sent inside b's pause")
  t.equal(await settle(write.ready(clock.now + 3000)), 'RATE_BUDGET_EXHAUSTED', 'nor made ready to be')
  clock.now += 5000
  t.equal(await settle(write.send(clock.now + 3000)), 'granted', 'after it, it is')
})

t.test('units given back are there for the next caller', async (t) => {
  const budget = new RateBudget({ requests: 4, windowMs: 60_000 })
  const a = await budget.reserve('live', Date.now() + 1000, 2)
  await a.send(Date.now() + 1000)
  a.release() // the read found the conversation ended: its PATCH is never sent
  await budget.reserve('live', Date.now() + 1000, 2)
  t.equal(await settle(budget.reserve('live', Date.now() + 1000, 1)), 'granted', 'the unsent PATCH did not count')
  t.equal(await settle(budget.reserve('live', Date.now() + 1000, 1)), 'RATE_BUDGET_EXHAUSTED')
})

t.test('a caller waiting for units is refused as soon as a 429 says the budget cannot serve it, not at its deadline', async (t) => {
  // Told 4; the window is full, and the caller could wait for it. Then Genesys pauses the token
  // for 60 s: no unit frees before its deadline, so it hears so at once.
  let queued = false
  const budget = new RateBudget({ requests: 4, windowMs: 2000, onWait: () => (queued = true) })
  await budget.reserve('live', Date.now() + 5000, 4)
  const waiting = settle(budget.reserve('live', Date.now() + 50_000, 2))
  await until(() => queued)
  budget.observe(429, { 'retry-after': '60' })
  const outcome = await Promise.race([waiting, new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting')).then((x) => x)])
  t.equal(outcome, 'RATE_BUDGET_EXHAUSTED', 'refused once the 429 came, 45 s before its deadline')
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
