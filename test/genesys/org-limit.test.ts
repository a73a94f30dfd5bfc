import t from 'tap'
import { Redis } from 'ioredis'
import { OrgLimit, type LimitSource } from '../../src/genesys/org-limit.ts'
import { MemoryReadingStore, RedisReadingStore, type Reading, type ReadingStore } from '../../src/coordination/readings.ts'
import { FakeClock } from '../helpers/clock.ts'
import { startRedis } from '../helpers/redis.ts'
import { id } from '../helpers/stack.ts'
import { until } from '../helpers/until.ts'

// The org's limit from the Limits API: what the budget spends by, and where that came from.

function setup (configured: number | undefined, answers: Array<number | undefined | Error>, store?: ReadingStore) {
  const clock = new FakeClock()
  const applied: Array<[number, LimitSource]> = []
  const whys: string[] = []
  let asked = 0
  const org = new OrgLimit({
    configured,
    ask: async () => {
      asked++
      const next = answers.shift()
      if (next instanceof Error) throw next
      return next
    },
    store: store ?? new MemoryReadingStore(clock),
    clock,
    pollMs: 60_000,
    apply: (limit, source, why) => {
      applied.push([limit, source])
      whys.push(why)
    },
  })
  return { org, applied, whys, asked: () => asked, pass: (ms: number) => clock.advance(ms), clock }
}

t.test('unset: the org says 600, and 600 it is; an hour later it is asked again', async (t) => {
  const s = setup(undefined, [600, 60])
  t.same(s.org.initial, { limit: 300, source: 'default' }, "until it answers: Genesys's default")
  await s.org.check()
  t.same(s.applied, [[600, 'org']])
  await s.org.check()
  t.equal(s.asked(), 1, 'not asked again within the hour')
  await s.pass(3_600_000)
  await s.org.check()
  t.same(s.applied, [[600, 'org'], [60, 'org']], 'the org lowered it')
})

t.test('a configured number is a ceiling: below the org it binds, above it the org does', async (t) => {
  const high = setup(1000, [60])
  await high.org.check()
  t.same(high.applied, [[60, 'org']])
  t.match(high.whys[0], /the org allows 60 a minute \(Limits API\), under GENESYS_RATE_LIMIT_PER_MINUTE=1000/)
  const low = setup(100, [300])
  t.same(low.org.initial, { limit: 100, source: 'configured' })
  await low.org.check()
  t.same(low.applied, [[100, 'configured']])
})

t.test('refused or unreadable: the configured value, or 300, and why; asked again after 5 minutes', async (t) => {
  const s = setup(undefined, [new Error('HTTP 403'), 450])
  await s.org.check()
  t.same(s.applied, [[300, 'default']])
  t.match(s.whys[0], /the Limits API could not be read \(HTTP 403\): spending Genesys's default, 300 a minute/)
  await s.pass(60_000)
  await s.org.check()
  t.equal(s.asked(), 1, 'not at once')
  await s.pass(5 * 60_000)
  await s.org.check()
  t.same(s.applied.at(-1), [450, 'org'])
})

t.test('replicas sharing Redis: one asks, both use its answer', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  const prefix = `test-${id()}:`
  const a = setup(undefined, [600], new RedisReadingStore(client, prefix))
  const b = setup(undefined, [999], new RedisReadingStore(client, prefix))
  await Promise.all([a.org.check(), b.org.check()])
  // One of them won the claim and asked; the other sees the reading at its next look.
  await Promise.all([a.org.check(), b.org.check()])
  t.equal(a.asked() + b.asked(), 1, 'asked once between them')
  t.same(a.applied.at(-1), b.applied.at(-1))
})

t.test('started, it looks at the store every pollMs, so a reading another replica made is used within one; closed, it stops', async (t) => {
  let reading: Reading | undefined = { value: 600, at: 0 }
  // Another replica asks: this one never wins the claim, and uses whatever the store holds.
  const s = setup(undefined, [], { get: async () => reading, claim: async () => false, set: async () => {} })
  await s.org.start()
  t.teardown(() => s.org.close())
  t.same(s.applied, [[600, 'org']])
  reading = { value: 900, at: s.clock.now() }
  await s.pass(59_999)
  t.equal(s.applied.length, 1, 'not looked at again before pollMs')
  await s.pass(1)
  await until(() => s.applied.length, (n) => n === 2, { what: 'the new reading applied', withinMs: 2000 })
  t.same(s.applied.at(-1), [900, 'org'])
  s.org.close()
  reading = { value: 1200, at: s.clock.now() }
  await s.pass(120_000)
  t.equal(s.applied.length, 2, 'closed: no more looks')
  t.equal(s.clock.pending, 0, 'and no timer left')
})
