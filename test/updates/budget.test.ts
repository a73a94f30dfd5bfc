import t from 'tap'
import { logSettings, RateBudget, type BudgetOptions } from '../../src/updates/budget.ts'
import type { Ticket } from '../../src/updates/budget-line.ts'
import { MemoryBudgetLog } from '../../src/coordination/budget-log.ts'
import type { ApiError } from '../../src/errors.ts'
import { fromNetwork, fromResponse } from '../../src/genesys/upstream-error.ts'
import { FakeClock } from '../helpers/clock.ts'
import { until } from '../helpers/until.ts'
import { busiest } from '../helpers/window.ts'
import type { Priority } from '../../src/domain.ts'

// Every budget here runs on a FakeClock: windows, pauses and deadlines pass when a test steps
// them, and what a test waits for is a state (`until`), never a length of time.

const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'granted',
    (e: ApiError) => e.code
  )

/** A request Genesys answers (200). */
const ok = async () => {}
const tooMany = () => Promise.reject(fromResponse('getConversation', 429, { 'retry-after': '5' }, ''))
const noAnswer = () => Promise.reject(fromNetwork('getConversation', new Error('socket hang up'), true))

/** A promise's outcome as it stands now: 'waiting' until it settles. */
function watch (p: Promise<unknown>): () => string {
  let seen = 'waiting'
  void settle(p).then((v) => (seen = v))
  return () => seen
}

/** A budget on a clock the test moves: nothing here waits on the wall clock. */
function clocked (opts: Omit<BudgetOptions, 'clock'>) {
  const clock = new FakeClock()
  return { clock, budget: new RateBudget({ ...opts, clock }) }
}

t.test('under a flood, no window-long interval holds more grants than the budget, and a burst gets it all at once', async (t) => {
  const windowMs = 600
  const { clock, budget } = clocked({ requests: 20, windowMs })
  const grants: number[] = []
  const order: number[] = []
  const start = clock.now()
  const takers = Array.from({ length: 120 }, (_, i) => budget.take('live', start + 1500, ok).then(() => { grants.push(clock.now()); order.push(i) }, () => {}))
  await clock.advance(1500)
  await Promise.all(takers)
  t.same(order.slice(0, 20).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i), 'the whole budget at once: the first 20 callers')
  t.same(grants.slice(0, 20), Array(20).fill(start), 'together, at once')
  // The window and its margin (200 ms at this size): the first units leave it 800 ms on.
  t.equal(grants[20], start + windowMs + 200, 'the 21st once the first have left the window')
  t.equal(grants.length, 40, 'two windows\' worth in 1.5 s')
  t.ok(busiest(grants, windowMs) <= 20, `at most 20 in any ${windowMs} ms (saw ${busiest(grants, windowMs)})`)
})

t.test('a caller who could not be served before its deadline is refused at once, with Retry-After', async (t) => {
  const { clock, budget } = clocked({ requests: 10, windowMs: 1500 })
  const started = clock.now()
  await budget.reserve('live', started + 10_000, 10)
  const err = await budget.reserve('live', started + 500, 2).catch((e: ApiError) => e)
  t.equal(clock.now(), started, 'answered at once, not at the deadline')
  t.equal((err as ApiError).code, 'RATE_BUDGET_EXHAUSTED')
  t.equal((err as ApiError).retryAfter, 2, 'Retry-After: when the units leave the window (1.5 s and 200 ms of margin)')
  let at = 0
  const patient = budget.reserve('live', started + 2500, 2).then(() => (at = clock.now()))
  await clock.advance(2500)
  await patient
  t.equal(at, started + 1700, 'one who can wait for them gets them, when the window has passed')
})

t.test('waiting callers are served live first, then in arrival order; a promoted bulk caller is live', async (t) => {
  const { clock, budget } = clocked({ requests: 10, windowMs: 300 })
  await budget.reserve('live', clock.now() + 5000, 10)
  const order: string[] = []
  const take = (p: Priority, name: string, ticket?: Ticket) => budget.reserve(p, clock.now() + 5000, 5, ticket).then(() => { order.push(name) })
  const ticket: Ticket = {}
  const waiting = [take('bulk', 'bulk1'), take('bulk', 'bulk2', ticket), take('live', 'live1')]
  await until(() => ticket.promote, Boolean, { what: 'bulk2 waiting' })
  ticket.promote!()
  await clock.advance(5000)
  await Promise.all(waiting)
  t.same(order, ['live1', 'bulk2', 'bulk1'], 'live, then the promoted one, then bulk')
})

t.test('a waiting caller whose deadline passes gives up its place', async (t) => {
  const { clock, budget } = clocked({ requests: 10, windowMs: 800 }) // and 200 ms of margin
  const started = clock.now()
  await budget.reserve('live', started + 10_000, 10)
  const bulk = watch(budget.reserve('bulk', started + 1100, 10))
  const live = watch(budget.reserve('live', started + 1100, 10))
  await clock.advance(999)
  t.equal(live(), 'waiting', 'the live caller waits for the window')
  // The live one went ahead of it: the bulk one's units could not come before its deadline.
  t.equal(bulk(), 'RATE_BUDGET_EXHAUSTED', 'the bulk one is refused before its deadline rather than left waiting')
  await clock.advance(1)
  await until(live, (s) => s !== 'waiting', { what: 'the live caller served' })
  t.equal(live(), 'granted', 'the live one when the window has passed')
})

t.test('a 429 holds every request until its Retry-After', async (t) => {
  const { clock, budget } = clocked({ requests: 100, windowMs: 1000 })
  for (let i = 0; i < 10; i++) await budget.take('live', clock.now() + 1000, ok)
  const write = await budget.reserve('live', clock.now() + 10_000, 2)
  // Its read, the 11th request, is refused.
  await write.send(clock.now() + 10_000, () => {
    budget.observe(429, { 'retry-after': '1' })
    return tooMany()
  }).catch(() => {})
  const started = clock.now()
  t.equal(await settle(write.send(started + 500, ok)), 'RATE_BUDGET_EXHAUSTED', 'a PATCH whose deadline comes first is not sent')
  t.equal(await settle(budget.reserve('live', started + 500, 2)), 'RATE_BUDGET_EXHAUSTED', 'nor is a new write reserved')
  const patient = watch(budget.reserve('live', started + 5000, 2))
  await clock.advance(999)
  t.equal(patient(), 'waiting', 'one that can wait out the pause waits')
  // Genesys allowed 10 of the 11 sent: that is the limit now, and 12 units are in the window
  // (1 s and 200 ms of margin), so it is served when they leave it.
  await clock.advance(201)
  await until(patient, (s) => s !== 'waiting', { what: 'the pause and the window over' })
  t.equal(patient(), 'granted', 'and is served when it can be')
})

/**
 * `n` merge writes reserved at once; the reads of the first `reads` and the PATCHes of the first
 * `patches` sent, the i-th request sent answered as `answer(i)` says (by default, 200).
 */
async function writes (budget: RateBudget, now: number, n: number, reads: number, patches: number, answer: (i: number) => Promise<void> = ok) {
  const held = []
  let i = 0
  for (let k = 0; k < n; k++) held.push(await budget.reserve('live', now + 10_000, 2))
  for (const r of [...held.slice(0, reads), ...held.slice(0, patches)]) await r.send(now + 10_000, () => answer(i++)).catch(() => {})
  return held
}

t.test('on a 429 the limit becomes what Genesys allowed; it holds five windows, then climbs back a step a window, never above the configured one', async (t) => {
  const minute = 60_000
  const { clock, budget } = clocked({ requests: 100, windowMs: minute })
  const start = clock.now()
  // 30 flows at once: 30 reads and 10 PATCHes went out, and one of them met a 429.
  await writes(budget, start, 30, 30, 10, (i) => (i === 39 ? tooMany() : ok()))
  await clock.advance(1000)
  budget.observe(429, { 'retry-after': '30' })
  t.equal(await settle(budget.reserve('live', clock.now() + 1000, 2)), 'RATE_BUDGET_EXHAUSTED', 'paused')
  t.equal(budget.limit, 39, 'Genesys allowed 39 of the 40 requests sent')
  await clock.advance(start + 2 * minute - clock.now()) // the pause and the window are over
  const granted = await writes(budget, clock.now(), 19, 0, 0)
  t.equal(granted.length, 19, '19 writes (38 requests) fit')
  t.equal(await settle(budget.reserve('live', clock.now() + 1000, 2)), 'RATE_BUDGET_EXHAUSTED', 'a 20th does not: 40 > 39')
  for (const r of granted) r.release()
  const learnedAt = start + 1000
  const limitAt = async (at: number) => {
    await clock.advance(at - clock.now())
    return (await budget.standing()).limit
  }
  t.equal(await limitAt(learnedAt + 5 * minute - 1), 39, 'held for five windows')
  const climb = []
  for (let k = 0; k < 12; k++) climb.push(await limitAt(learnedAt + (5 + k) * minute))
  t.same(climb, [42, 46, 50, 55, 60, 66, 72, 79, 86, 94, 100, 100], 'then a tenth of itself more each window, up to the configured 100')
  t.same(await budget.standing(), { limit: 100, pausedMs: 0 }, 'nothing learned holds any more')
})

t.test("requests that got no answer are no evidence: they neither pause nor count as allowed; a 4xx of Genesys's own does, a 5xx does not", async (t) => {
  const { clock, budget } = clocked({ requests: 100, windowMs: 60_000 })
  const notFound = () => Promise.reject(fromResponse('getConversation', 404, {}, ''))
  const badGateway = () => Promise.reject(fromResponse('getConversation', 502, {}, ''))
  const answers = [noAnswer, noAnswer, noAnswer, tooMany, notFound, badGateway]
  await writes(budget, clock.now(), 10, 10, 0, (i) => (answers[i] ?? ok)())
  budget.observe(0, {})
  budget.observe(0, {})
  budget.observe(0, {})
  t.equal(await settle(budget.reserve('live', clock.now() + 1000, 2)), 'granted', 'not paused')
  t.equal(budget.limit, 100, 'nor lowered')
  budget.observe(429, { 'retry-after': '5' })
  await settle(budget.reserve('live', clock.now() + 1000, 2))
  t.equal(budget.limit, 10 - 3 - 1 - 1, 'of 10 reads sent, three unanswered, one refused and a 502 (maybe not from Genesys): 5 proven, a 404 among them')
})

t.test('a request still on its way when the 429 comes counts once its answer is in, and only within the window it was sent in', async (t) => {
  const windowMs = 10_000
  const { clock, budget } = clocked({ requests: 100, windowMs })
  const deadline = clock.now() + 60_000
  /** A read whose answer comes when the test says. */
  const onItsWay = async () => {
    let arrive: (() => void) | undefined
    const taken = budget.take('live', deadline, () => new Promise<void>((resolve) => (arrive = resolve)))
    await until(() => arrive, Boolean, { what: 'the read sent' })
    return async () => {
      arrive!()
      await taken
    }
  }
  // Eleven reads at once: eight answered, two on their way, one refused.
  for (let i = 0; i < 8; i++) await budget.take('live', deadline, ok)
  const [soon, late] = [await onItsWay(), await onItsWay()]
  await budget.take('live', deadline, tooMany).catch(() => {})
  budget.observe(429, { 'retry-after': '1' })
  await until(async () => (await budget.standing()).limit, (limit) => limit < 100, { what: 'the limit learned' })
  t.equal(budget.limit, 8, 'what is answered: eight, not the ten sent and not refused')
  await soon()
  await until(async () => (await budget.standing()).limit, (limit) => limit > 8, { what: 'the answer counted' })
  t.equal(budget.limit, 9, 'an answer within the window proves one more')
  // A window on (and the margin the budget keeps), Genesys's window has moved too: the answer may
  // be to a request it allowed only then.
  await clock.advance(windowMs + 1000)
  await late()
  await budget.take('live', clock.now() + 1000, ok)
  t.equal((await budget.standing()).limit, 9, 'an answer a window after its request proves nothing more')
})

t.test("a unit held when another replica hears a 429 waits for that replica's pause", async (t) => {
  // Two replicas' budgets over one shared log (Redis, in service).
  const clock = new FakeClock()
  const shared = new MemoryBudgetLog(logSettings(100, 60_000))
  const a = new RateBudget({ requests: 100, windowMs: 60_000, clock, log: () => shared })
  const b = new RateBudget({ requests: 100, windowMs: 60_000, clock, log: () => shared })
  const write = await a.reserve('live', clock.now() + 10_000, 2)
  await write.send(clock.now() + 10_000, ok) // its read
  b.observe(429, { 'retry-after': '5' })
  t.equal(await settle(write.send(clock.now() + 3000, ok)), 'RATE_BUDGET_EXHAUSTED', "a's PATCH, held already, is not sent inside b's pause")
  t.equal(await settle(write.ready(clock.now() + 3000)), 'RATE_BUDGET_EXHAUSTED', 'nor made ready to be')
  await clock.advance(5000)
  t.equal(await settle(write.send(clock.now() + 3000, ok)), 'granted', 'after it, it is')
})

t.test('a request is dated once what it needs to go out (a token) is there, not before: "sent" means sent', async (t) => {
  const clock = new FakeClock()
  const dated: number[] = []
  const log = new MemoryBudgetLog(logSettings(100, 60_000))
  const send = log.send.bind(log)
  log.send = (id, now) => {
    dated.push(now)
    return send(id, now)
  }
  let fetches = 0
  // The first request finds no token: fetching one takes 4 s (a slow login, a loaded machine).
  const prepare = () => (fetches++ === 0 ? clock.advance(4000) : undefined)
  const budget = new RateBudget({ requests: 100, windowMs: 60_000, clock, log: () => log, prepare })
  const started = clock.now()
  await budget.take('bulk', started + 10_000, ok)
  const write = await budget.reserve('live', clock.now() + 10_000, 1)
  await write.send(clock.now() + 10_000, ok)
  t.same(dated, [started + 4000, started + 4000], 'both dated when they went out, after the token, by take() and by a reservation alike')
  t.equal(fetches, 2, 'each asked for what it needs')
})

t.test('units given back are there for the next caller', async (t) => {
  const { clock, budget } = clocked({ requests: 4, windowMs: 60_000 })
  const a = await budget.reserve('live', clock.now() + 1000, 2)
  await a.send(clock.now() + 1000, ok)
  a.release() // the read found the conversation ended: its PATCH is never sent
  await budget.reserve('live', clock.now() + 1000, 2)
  t.equal(await settle(budget.reserve('live', clock.now() + 1000, 1)), 'granted', 'the unsent PATCH did not count')
  t.equal(await settle(budget.reserve('live', clock.now() + 1000, 1)), 'RATE_BUDGET_EXHAUSTED')
})

t.test('a caller waiting for units is refused as soon as a 429 says the budget cannot serve it, not at its deadline', async (t) => {
  // Told 4; the window is full, and the caller could wait for it. Then Genesys pauses the token
  // for 60 s: no unit frees before its deadline, so it hears so at once. The clock stands still
  // meanwhile: neither the window's end (2.2 s) nor the deadline can be what answers it.
  let queued = false
  const { clock, budget } = clocked({ requests: 4, windowMs: 2000, onWait: () => (queued = true) })
  const started = clock.now()
  await budget.reserve('live', started + 5000, 4)
  const waiting = watch(budget.reserve('live', started + 50_000, 2))
  await until(() => queued, Boolean, { what: 'the caller waiting' })
  budget.observe(429, { 'retry-after': '60' })
  // advance(0): what is due now runs; time does not move.
  await until(async () => { await clock.advance(0); return waiting() }, (s) => s !== 'waiting', { what: 'the waiting caller answered', withinMs: 2000 })
  t.equal(waiting(), 'RATE_BUDGET_EXHAUSTED', 'refused once the 429 came')
  t.equal(clock.now(), started, 'with the window still full and 50 s before its deadline')
})

t.test('closing answers whoever still waits, at once', async (t) => {
  let queued = false
  const { clock, budget } = clocked({ requests: 2, windowMs: 60_000, onWait: () => (queued = true) })
  const started = clock.now()
  await budget.reserve('live', started + 60_000, 2)
  const waiting = watch(budget.reserve('live', started + 120_000, 2))
  await until(() => queued, Boolean, { what: 'the caller waiting' })
  budget.close()
  await until(waiting, (s) => s !== 'waiting', { what: 'the waiting caller answered', withinMs: 2000 })
  t.equal(waiting(), 'SHUTTING_DOWN', 'not a minute later, at its deadline')
  t.equal(clock.now(), started)
  t.equal(clock.pending, 0, 'and no timer of the budget\'s is left behind')
})
