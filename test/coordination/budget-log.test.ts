import fc from 'fast-check'
import tap from 'tap'
import { MemoryBudgetLog, type Ask, type BudgetLog, type LogSettings } from '../../src/coordination/budget-log.ts'
import { RedisBudgetLog } from '../../src/coordination/budget-log-redis.ts'
import { redisKeys } from '../../src/coordination/keys.ts'
import { fastClients, intercepting, resending, startRedis } from '../helpers/redis.ts'

const t = tap

// Times are given, never waited for: each log is asked "at" the moment the case says.
const settings: LogSettings = { requests: 20, windowMs: 1000, evidenceMs: 800, holdMs: 3000, stepMs: 1000, floor: 2 }
const ask = (now: number, units: number, more: Partial<Ask> = {}): Ask => ({ now, units, ahead: 0, live: true, withinMs: 60_000, ...more })

type Make = (s?: LogSettings) => Promise<BudgetLog>

/** Reserves `units` at `now` and sends them all then: `units` requests made. */
async function sent (log: BudgetLog, now: number, units: number): Promise<string[]> {
  const { ids } = await log.reserve(ask(now, units))
  for (const id of ids) await log.send(id, now)
  return ids
}

/** Genesys answers each of `ids` at `now`. */
async function answer (log: BudgetLog, now: number, ids: string[]): Promise<void> {
  for (const id of ids) await log.answered(id, now)
}

function contract (t: Pick<typeof tap, 'test'>, name: string, make: Make, runs: number) {
  t.test(`${name}: after an idle window the whole limit is there at once, and no more`, async (t) => {
    const log = await make()
    for (let i = 0; i < 10; i++) t.equal((await log.reserve(ask(10 + i, 2))).ids.length, 2)
    const no = await log.reserve(ask(500, 1))
    t.same(no.ids, [], 'the 21st unit in the window is refused')
    t.equal(no.waitMs, 10 + 1000 - 500, 'with the wait until the oldest unit leaves the window')
    t.equal((await log.reserve(ask(1010, 1))).ids.length, 1, 'then it is there')
    const two = await log.reserve(ask(1010, 2))
    t.equal(two.waitMs, 11 + 1000 - 1010, 'two units: when the second oldest leaves')
  })

  t.test(`${name}: a reservation is all or nothing, and units given back are free again`, async (t) => {
    const log = await make()
    const many = await log.reserve(ask(1, 19))
    t.equal(many.ids.length, 19)
    t.same((await log.reserve(ask(2, 2))).ids, [], 'two units do not fit in one')
    await log.release(many.ids.slice(17))
    t.equal((await log.reserve(ask(3, 2))).ids.length, 2, 'two released units are taken again')
  })

  t.test(`${name}: a unit is counted from when it was sent`, async (t) => {
    const log = await make()
    const first = await log.reserve(ask(0, 20))
    for (const id of first.ids.slice(10)) t.equal(await log.send(id, 400), 0)
    t.equal((await log.reserve(ask(1000, 10))).ids.length, 10, 'the ten taken at 0 have left the window at 1000')
    t.equal((await log.reserve(ask(1000, 1))).waitMs, 400, 'the ten sent at 400 leave it at 1400')
  })

  t.test(`${name}: a unit sent after its entry left the window counts from then`, async (t) => {
    const log = await make()
    const held = await log.reserve(ask(0, 20))
    // Held past the window (a long pause): its entry is gone when it is finally sent.
    t.equal(await log.send(held.ids[0]!, 1100), 0)
    t.same((await log.reserve(ask(1100, 20))).ids, [], 'the whole limit is not there: one unit was just sent')
    t.equal((await log.reserve(ask(1100, 19))).ids.length, 19)
  })

  t.test(`${name}: a 429 pauses every reservation and every send until its Retry-After`, async (t) => {
    const log = await make()
    const held = await log.reserve(ask(0, 2))
    await log.refused(10, 2000)
    const paused = await log.reserve(ask(20, 1))
    t.same(paused.ids, [])
    t.equal(paused.waitMs, 1990)
    t.equal(await log.send(held.ids[0]!, 30), 1980, 'units already held are not sent either')
    t.equal(await log.paused(30), 1980)
    await log.refused(40, 500)
    t.equal((await log.reserve(ask(1500, 1))).waitMs, 510, 'a shorter pause does not cut a longer one')
    t.equal(await log.send(held.ids[0]!, 2010), 0, 'then they are')
    t.equal(await log.paused(2010), 0)
    t.equal((await log.reserve(ask(2010, 1))).ids.length, 1)
  })

  t.test(`${name}: a 429 sets the limit to what Genesys allowed; it holds, then climbs back a step a window, never above the configured one`, async (t) => {
    const log = await make()
    const ids = await sent(log, 0, 13)
    await answer(log, 40, ids.slice(1))
    await log.refused(50, 100) // one of the 13 was refused
    t.same(await log.standing(60), { limit: 12, learned: { limit: 12, agoMs: 10 }, pausedMs: 90 })
    t.equal((await log.reserve(ask(1100, 12))).limit, 12, 'the 12 Genesys allowed')
    t.same((await log.reserve(ask(1101, 1))).ids, [], 'and no more')
    t.equal((await log.reserve(ask(3049, 0))).limit, 12, 'held for 3 s after the 429')
    const climb = []
    for (let at = 3050; at <= 12_050; at += 1000) climb.push((await log.reserve(ask(at, 0))).limit)
    t.same(climb, [13, 14, 15, 16, 17, 18, 19, 20, 20, 20], 'a tenth of itself (at least 1) each window, up to the configured 20')
    t.same(await log.standing(12_050), { limit: 20, pausedMs: 0 }, 'climbed back: nothing learned holds')
  })

  t.test(`${name}: units held but never sent, requests that got no answer and requests on their way are no evidence of what Genesys allows`, async (t) => {
    const log = await make()
    const writes = await log.reserve(ask(0, 16)) // eight merge writes: a read and a PATCH each
    for (const id of writes.ids.slice(0, 8)) await log.send(id, 0) // the reads went out
    await answer(log, 10, writes.ids.slice(0, 5))
    t.same(await log.standing(10), { limit: 20, pausedMs: 0 }, 'answers alone neither pause nor teach')
    await log.refused(20, 100)
    t.equal((await log.standing(20)).limit, 5, 'eight sent: five answered, one refused, two with no answer yet')
  })

  t.test(`${name}: answers that come after the 429 raise the limit learned to what the window proves, and only within the window`, async (t) => {
    const log = await make()
    const ids = await sent(log, 0, 13)
    await answer(log, 40, ids.slice(0, 8))
    await log.refused(50, 100)
    t.equal((await log.standing(50)).limit, 8, 'what was answered when the 429 came')
    await answer(log, 60, ids.slice(8, 10))
    t.same(await log.standing(70), { limit: 10, learned: { limit: 10, agoMs: 20 }, pausedMs: 80 }, 'ten, held from the 429, the pause unchanged')
    await answer(log, 61, ids.slice(8, 10))
    t.equal((await log.standing(70)).limit, 10, 'an answer told twice (a resent command) counts once')
    await log.answered('no-such-unit', 62)
    t.equal((await log.standing(70)).limit, 10, 'a unit not in the log proves nothing')
    await answer(log, 820, ids.slice(10))
    t.equal((await log.standing(820)).limit, 10, 'answers to requests sent a window before prove nothing: Genesys may have allowed them only as its window moved on')
  })

  t.test(`${name}: each 429 learns afresh what its window proves, more or less; answers within it raise it; never below one write`, async (t) => {
    const log = await make()
    const held = await log.reserve(ask(0, 12))
    for (const id of held.ids.slice(0, 4)) await log.send(id, 0)
    await answer(log, 5, held.ids.slice(0, 3))
    await log.refused(10, 100)
    t.equal((await log.standing(10)).limit, 3, 'four sent, three answered')
    // Units taken before the limit was learned go out after the pause.
    for (const id of held.ids.slice(4, 10)) t.equal(await log.send(id, 200), 0)
    await answer(log, 250, held.ids.slice(4, 8))
    await log.refused(300, 100)
    t.equal((await log.standing(300)).limit, 7, 'seven answered of what went out in the window: seven is proven')
    await log.refused(900, 100)
    t.equal((await log.standing(900)).limit, 4, 'a later 429 whose window proves less: the limit falls (the three sent at 0 are out of it)')
    await log.refused(2500, 100)
    t.equal((await log.standing(2500)).limit, 2, 'nothing answered in the window: one merge write still goes')
  })

  t.test(`${name}: bulk is paced and leaves a tenth; a waiting live caller holds bulk back`, async (t) => {
    const log = await make()
    t.equal((await log.reserve(ask(0, 2, { live: false }))).ids.length, 2, 'a tenth of the limit in a tenth of the window')
    const paced = await log.reserve(ask(1, 1, { live: false }))
    t.same(paced.ids, [], 'then bulk waits')
    t.equal(paced.waitMs, 100 - 1, 'for the tenth to pass')
    for (let at = 100; at < 900; at += 100) t.equal((await log.reserve(ask(at, 2, { live: false }))).ids.length, 2)
    t.same((await log.reserve(ask(950, 2, { live: false }))).ids, [], 'bulk never takes the last tenth of the window')
    t.equal((await log.reserve(ask(951, 2))).ids.length, 2, 'a flow does')
    const live = await log.reserve(ask(952, 6, { withinMs: 2000 - 952 }))
    t.same(live.ids, [], 'the window is full: the next flow waits')
    t.equal(live.waitMs, 200 + 1000 - 952, 'until six units leave it')
    const bulk = await log.reserve(ask(1150, 2, { live: false }))
    t.same(bulk.ids, [], 'bulk units freed meanwhile are not taken by bulk')
    t.equal(bulk.waitMs, 50, 'bulk waits until the flow is served')
    t.equal((await log.reserve(ask(1200, 6))).ids.length, 6, 'the flow is served')
  })

  t.test(`${name}: whatever is asked, whenever, no window-long interval holds more than the limit`, async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ gap: fc.nat(150), units: fc.integer({ min: 1, max: 3 }), live: fc.boolean(), release: fc.boolean(), pause: fc.nat(30) }),
          { minLength: 1, maxLength: 120 }
        ),
        async (asks) => {
          const log = await make()
          const sent: number[] = []
          let now = 0
          for (const a of asks) {
            now += a.gap
            if (a.pause === 0) await log.refused(now, 200)
            const g = await log.reserve(ask(now, a.units, { live: a.live }))
            // Some reservations give their last unit back unsent; the rest are sent at `now`.
            const kept = a.release && g.ids.length > 1 ? g.ids.slice(0, -1) : g.ids
            if (kept.length < g.ids.length) await log.release(g.ids.slice(kept.length))
            for (const id of kept) if ((await log.send(id, now)) === 0) sent.push(now)
          }
          for (let i = 0, j = 0; i < sent.length; i++) {
            while (sent[i]! - sent[j]! >= settings.windowMs) j++
            if (i - j + 1 > settings.requests) return false
          }
          return true
        }
      ),
      { numRuns: runs }
    )
    t.pass(`${runs} runs`)
  })
}

contract(t, 'memory', async (s = settings) => new MemoryBudgetLog(s), 200)

t.test('redis', async (t) => {
  const redis = await startRedis(t)
  t.comment(`redis from ${redis.source}`)
  const connect = fastClients(t, redis.url)
  let n = 0
  // Told the time, as the memory log is; in service, it takes Redis's own (the last test here).
  const given = { clock: 'given' as const }
  contract(t, 'redis', async (s = settings) => new RedisBudgetLog(await connect(), `test${++n}:`, s, given), 30)

  t.test('redis and memory make the same decisions, step by step', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gap: fc.nat(120),
            units: fc.integer({ min: 1, max: 3 }),
            live: fc.boolean(),
            said: fc.nat(4),
            release: fc.boolean(),
            send: fc.nat(2),
          }),
          { minLength: 1, maxLength: 80 }
        ),
        async (steps) => {
          const pair = [new MemoryBudgetLog(settings), new RedisBudgetLog(await connect(), `same${++n}:`, settings, given)] as const
          const held: [string[], string[]] = [[], []]
          // Units sent, not yet answered.
          const out: [string[], string[]] = [[], []]
          let now = 0
          for (const step of steps) {
            now += step.gap
            const grants = []
            for (const [i, log] of pair.entries()) {
              // Genesys answers the oldest request on its way, or refuses one.
              const oldest = step.said === 0 ? out[i]!.shift() : undefined
              if (oldest !== undefined) await log.answered(oldest, now)
              if (step.said === 1) await log.refused(now, 150)
              const g = await log.reserve(ask(now, step.units, { live: step.live, withinMs: 500 }))
              if (step.release) await log.release(g.ids.slice(1))
              else held[i]!.push(...g.ids.slice(1))
              // The first unit goes now, late, or (a unit held from an earlier step) much later.
              const first = step.send === 2 ? held[i]!.shift() : g.ids[0]
              const pause = first === undefined ? -1 : await log.send(first, now + (step.send === 1 ? 30 : 0))
              if (pause === 0) out[i]!.push(first!)
              grants.push({ granted: g.ids.length, waitMs: g.waitMs, limit: g.limit, pause, standing: await log.standing(now) })
            }
            const [memory, redis] = grants.map((g) => JSON.stringify(g))
            if (memory !== redis) throw new Error(`at ${now}: memory ${memory}, redis ${redis}`)
          }
        }
      ),
      { numRuns: 25 }
    )
    t.pass('25 runs')
  })

  t.test('redis: two replicas share the log, the pause and the learned limit', async (t) => {
    const a = new RedisBudgetLog(await connect(), 'shared:', settings, given)
    const b = new RedisBudgetLog(await connect(), 'shared:', settings, given)
    const held = await a.reserve(ask(1, 12))
    t.equal(held.ids.length, 12)
    t.equal((await b.reserve(ask(2, 8))).ids.length, 8)
    t.same((await a.reserve(ask(3, 1))).ids, [], 'one limit for both')
    for (const id of held.ids.slice(0, 6)) await a.send(id, 1000)
    await answer(a, 1050, held.ids.slice(0, 5))
    await b.refused(1100, 1900)
    t.equal((await a.reserve(ask(1200, 1))).waitMs, 1800, "b's 429 pauses a")
    t.equal(await a.send(held.ids[6]!, 1200), 1800, "and a's units already held")
    t.equal((await a.standing(1200)).limit, 5, "b's 429 taught a what a's answers proved: six requests, one refused")
  })

  t.test("redis: the time is Redis's, whatever the replicas' clocks say", async (t) => {
    const a = new RedisBudgetLog(await connect(), 'clocks:', settings)
    const b = new RedisBudgetLog(await connect(), 'clocks:', settings)
    const wrong = Date.now()
    await a.refused(wrong + 600_000, 2000) // a's clock is ten minutes fast
    const waitMs = (await b.reserve(ask(wrong - 600_000, 1))).waitMs // b's ten minutes slow
    t.ok(waitMs > 1000 && waitMs <= 2000, `b waits out the 2 s a was told, not 20 minutes or none (${waitMs} ms)`)
    const { pausedMs } = await a.standing(0)
    t.ok(pausedMs > 1000 && pausedMs <= 2000, `and the pause a reports is the same (${pausedMs} ms)`)
  })

  t.test('redis: a script ioredis sends again after a reconnect counts once', async (t) => {
    // autoResendUnfulfilledCommands: a command whose answer the broken connection lost is sent
    // again on the new one, and runs twice. This client runs every script twice, as then.
    const client = await connect()
    const twice = resending(client, ['pdgBudgetReserve', 'pdgBudgetSend', 'pdgBudgetAnswered', 'pdgBudgetRefused'])
    const four = { ...settings, requests: 4 }
    const resent = new RedisBudgetLog(twice, 'resent:', four, given)
    const other = new RedisBudgetLog(client, 'resent:', four, given)
    const keys = redisKeys('resent:').budget
    const held = await resent.reserve(ask(1, 2))
    t.equal(held.ids.length, 2, 'granted')
    t.equal(await client.zcard(keys.units), 2, 'two units in the log, not four')
    t.equal((await other.reserve(ask(2, 2))).ids.length, 2, 'the other two are there for the next caller')
    for (const id of held.ids) t.equal(await resent.send(id, 3), 0, 'sent (twice: the same unit)')
    t.equal(await client.zcard(keys.units), 4, 'two units sent, two held: four in the log')
    await resent.answered(held.ids[0]!, 4)
    t.equal(await client.zcard(keys.answered), 1, 'one answer, counted once')
  })

  t.test('redis: the answers of one turn of the event loop go to Redis in one call, and each counts', async (t) => {
    const client = await connect()
    let calls = 0
    const counted = intercepting(client, ['pdgBudgetAnswered'], (send) => {
      calls++
      return send()
    })
    const log = new RedisBudgetLog(counted, 'batched:', settings, given)
    const held = await log.reserve(ask(1, 3))
    for (const id of held.ids) await log.send(id, 2)
    await Promise.all(held.ids.map((id) => log.answered(id, 3)))
    t.equal(calls, 1, 'three answers, one call')
    t.equal(await client.zcard(redisKeys('batched:').budget.answered), 3, 'and three answered')
  })
})
