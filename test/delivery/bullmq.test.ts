import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { BullScheduler } from '../../src/delivery/bullmq.js'
import { Pacer } from '../../src/delivery/pace.js'
import type { Deliverer } from '../../src/delivery/worker.js'
import { startRedis } from '../helpers/redis.js'

t.test('a busy replica takes few jobs from Redis at a time; one with time to spare takes the rest', async (t) => {
  const redis = await startRedis(t)
  const prefix = `{test:${crypto.randomUUID()}:bull}`
  const delivered = new Map<string, string>()
  /** A replica: its pacer reads the utilization given, and each attempt takes 200 ms, as a Genesys round trip might. */
  const replica = (name: string, utilization: number) => {
    let now = 0
    const pacer = new Pacer({ max: 500, shed: true, utilization: () => utilization, clock: () => now })
    for (let i = 0; i < 12; i++, now += 100) void pacer.limit
    const stats = { running: 0, most: 0 }
    const deliverer = {
      maxDelayMs: 1000,
      deliver: (c: string) => pacer.run(async () => {
        stats.most = Math.max(stats.most, ++stats.running)
        await sleep(200)
        stats.running--
        delivered.set(c, name)
        return undefined
      }, 500),
    } as unknown as Deliverer
    const scheduler = new BullScheduler(deliverer, { connect: () => new Redis(redis.url, { maxRetriesPerRequest: null }), prefix, pacer })
    t.teardown(() => scheduler.close())
    return { scheduler, stats, pacer }
  }
  const busy = replica('busy', 1)
  const spare = replica('spare', 0)
  t.equal(busy.pacer.limit, 1, 'the busy one starts one attempt at a time')
  await sleep(200)
  const conversations = Array.from({ length: 30 }, () => crypto.randomUUID())
  await Promise.all(conversations.map((c) => busy.scheduler.enqueue(c)))
  for (const until = Date.now() + 10_000; delivered.size < conversations.length && Date.now() < until;) await sleep(20)
  t.equal(delivered.size, 30, 'every conversation delivered')
  const byBusy = [...delivered.values()].filter((name) => name === 'busy').length
  t.ok(byBusy <= 6, `the busy replica took few of them (${byBusy})`)
  t.equal(busy.stats.most, 1, 'and attempted them one at a time')
  t.ok(spare.stats.most > 2, `the other ran many at once (${spare.stats.most})`)
})
