import fc from 'fast-check'
import { Redis } from 'ioredis'
import tap from 'tap'
import { MemoryBudgetLog, type Ask, type BudgetLog, type LogSettings } from '../../src/updates/budget-log.js'
import { RedisBudgetLog } from '../../src/updates/budget-redis.js'
import { startRedis } from '../helpers/redis.js'

const t = tap

// Times are given, never waited for: each log is asked "at" the moment the case says.
const settings: LogSettings = { requests: 20, windowMs: 1000, probe: 2, probeMs: 100, learnedMs: 10_000 }
const ask = (now: number, units: number, more: Partial<Ask> = {}): Ask => ({ now, units, ahead: 0, live: true, deadline: now + 60_000, ...more })

/** A log that has heard Genesys answer just now (so it is not probing). */
type Make = (s?: LogSettings) => Promise<BudgetLog>

function contract (t: Pick<typeof tap, 'test'>, name: string, make: Make, runs: number) {
  const warm = async (s = settings, now = 0) => {
    const log = await make(s)
    await log.heard({ now })
    return log
  }

  t.test(`${name}: after an idle window the whole limit is there at once, and no more`, async (t) => {
    const log = await warm()
    for (let i = 0; i < 10; i++) t.equal((await log.reserve(ask(10 + i, 2))).ids.length, 2)
    const refused = await log.reserve(ask(500, 1))
    t.same(refused.ids, [], 'the 21st unit in the window is refused')
    t.equal(refused.waitMs, 10 + 1000 - 500, 'with the wait until the oldest unit leaves the window')
    await log.heard({ now: 1000 }) // answers keep coming: no probe
    t.equal((await log.reserve(ask(1010, 1))).ids.length, 1, 'then it is there')
    const two = await log.reserve(ask(1010, 2))
    t.equal(two.waitMs, 11 + 1000 - 1010, 'two units: when the second oldest leaves')
  })

  t.test(`${name}: a reservation is all or nothing, and units given back are free again`, async (t) => {
    const log = await warm()
    const many = await log.reserve(ask(1, 19))
    t.equal(many.ids.length, 19)
    t.same((await log.reserve(ask(2, 2))).ids, [], 'two units do not fit in one')
    await log.release(many.ids.slice(17))
    t.equal((await log.reserve(ask(3, 2))).ids.length, 2, 'two released units are taken again')
  })

  t.test(`${name}: a unit is counted from when it was sent`, async (t) => {
    const log = await warm()
    const first = await log.reserve(ask(0, 20))
    await log.stamp(first.ids.slice(10), 400)
    await log.heard({ now: 1000 })
    t.equal((await log.reserve(ask(1000, 10))).ids.length, 10, 'the ten sent at 0 have left the window at 1000')
    t.equal((await log.reserve(ask(1000, 1))).waitMs, 400, 'the ten sent at 400 leave it at 1400')
  })

  t.test(`${name}: until Genesys has answered within a window, one write goes first`, async (t) => {
    const log = await make()
    t.equal((await log.reserve(ask(5000, 2))).ids.length, 2, 'the probe')
    const held = await log.reserve(ask(5001, 2))
    t.same(held.ids, [])
    t.ok(held.waitMs <= 20, 'asked again shortly')
    t.equal((await log.reserve(ask(5100, 2))).ids.length, 2, 'an answer that does not come (its replica died) holds the rest back only so long')
    await log.heard({ now: 5105 })
    t.equal((await log.reserve(ask(5106, 16))).ids.length, 16, 'an answer: the rest of the limit at once')
  })

  t.test(`${name}: a 429 pauses every reservation until its Retry-After`, async (t) => {
    const log = await warm()
    await log.heard({ now: 10, pauseUntil: 2010 })
    const paused = await log.reserve(ask(20, 1))
    t.same(paused.ids, [])
    t.equal(paused.waitMs, 1990)
    await log.heard({ now: 30, pauseUntil: 1000 })
    await log.heard({ now: 1500 })
    t.equal((await log.reserve(ask(1500, 1))).waitMs, 510, 'a shorter pause does not cut a longer one')
    t.equal((await log.reserve(ask(2010, 1))).ids.length, 1)
  })

  t.test(`${name}: Genesys's stated limit is followed down and back up, never above the configured one`, async (t) => {
    const log = await warm()
    await log.heard({ now: 0, allowed: 5 })
    const g = await log.reserve(ask(1, 5))
    t.equal(g.ids.length, 5)
    t.equal(g.limit, 5, 'the limit in force')
    t.same((await log.reserve(ask(2, 1))).ids, [])
    await log.heard({ now: 3, allowed: 500 })
    const up = await log.reserve(ask(4, 15))
    t.equal(up.ids.length, 15)
    t.equal(up.limit, 20, 'back up, to the configured limit')
    t.same((await log.reserve(ask(5, 1))).ids, [])
  })

  t.test(`${name}: bulk is paced and leaves a tenth; a waiting live caller holds bulk back`, async (t) => {
    const log = await warm()
    t.equal((await log.reserve(ask(0, 2, { live: false }))).ids.length, 2, 'a tenth of the limit in a tenth of the window')
    const paced = await log.reserve(ask(1, 1, { live: false }))
    t.same(paced.ids, [], 'then bulk waits')
    t.equal(paced.waitMs, 100 - 1, 'for the tenth to pass')
    for (let at = 100; at < 900; at += 100) t.equal((await log.reserve(ask(at, 2, { live: false }))).ids.length, 2)
    t.same((await log.reserve(ask(950, 2, { live: false }))).ids, [], 'bulk never takes the last tenth of the window')
    t.equal((await log.reserve(ask(951, 2))).ids.length, 2, 'a flow does')
    const live = await log.reserve(ask(952, 6, { deadline: 2000 }))
    t.same(live.ids, [], 'the window is full: the next flow waits')
    t.equal(live.waitMs, 200 + 1000 - 952, 'until six units leave it')
    await log.heard({ now: 1100 })
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
          const log = await warm()
          const sent: number[] = []
          let now = 0
          for (const a of asks) {
            now += a.gap
            await log.heard(a.pause === 0 ? { now, pauseUntil: now + 200 } : { now })
            const g = await log.reserve(ask(now, a.units, { live: a.live }))
            // Some reservations give their last unit back unsent; the rest are sent at `now`.
            const kept = a.release && g.ids.length > 1 ? g.ids.slice(0, -1) : g.ids
            if (kept.length < g.ids.length) await log.release(g.ids.slice(kept.length))
            for (let i = 0; i < kept.length; i++) sent.push(now)
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
  const clients: Redis[] = []
  t.teardown(() => clients.forEach((c) => c.disconnect()))
  const connect = async () => {
    const c = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    c.on('error', () => {})
    clients.push(c)
    if (c.status !== 'ready') await new Promise((resolve) => c.once('ready', resolve))
    return c
  }
  let n = 0
  contract(t, 'redis', async (s = settings) => new RedisBudgetLog(await connect(), `test${++n}:`, s), 30)

  t.test('redis and memory make the same decisions, step by step', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gap: fc.nat(120),
            units: fc.integer({ min: 1, max: 3 }),
            live: fc.boolean(),
            heard: fc.nat(4),
            release: fc.boolean(),
            stamp: fc.boolean(),
          }),
          { minLength: 1, maxLength: 80 }
        ),
        async (steps) => {
          const pair = [new MemoryBudgetLog(settings), new RedisBudgetLog(await connect(), `same${++n}:`, settings)] as const
          let now = 0
          for (const step of steps) {
            now += step.gap
            const said = step.heard === 0 ? { now } : step.heard === 1 ? { now, allowed: 12 } : step.heard === 2 ? { now, pauseUntil: now + 150 } : undefined
            const grants = []
            for (const log of pair) {
              if (said !== undefined) await log.heard(said)
              const g = await log.reserve(ask(now, step.units, { live: step.live, deadline: now + 500 }))
              if (step.release) await log.release(g.ids.slice(1))
              if (step.stamp) await log.stamp(g.ids.slice(0, 1), now + 30)
              grants.push({ granted: g.ids.length, waitMs: g.waitMs, limit: g.limit })
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

  t.test('redis: two replicas share the log, the pause and the live claim', async (t) => {
    const a = new RedisBudgetLog(await connect(), 'shared:', settings)
    const b = new RedisBudgetLog(await connect(), 'shared:', settings)
    await a.heard({ now: 0 })
    t.equal((await a.reserve(ask(1, 12))).ids.length, 12)
    t.equal((await b.reserve(ask(2, 8))).ids.length, 8)
    t.same((await a.reserve(ask(3, 1))).ids, [], 'one limit for both')
    await b.heard({ now: 1100, pauseUntil: 3000 })
    t.equal((await a.reserve(ask(1200, 1))).waitMs, 1800, "b's 429 pauses a")
  })
})
