import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryDeliveryStore } from '../../src/delivery/memory.js'
import { RedisDeliveryStore } from '../../src/delivery/redis.js'
import type { Delivery, DeliveryStore } from '../../src/delivery/store.js'
import { startRedis } from '../helpers/redis.js'

let seq = 0
const update = (conversationId = crypto.randomUUID()): Delivery => ({
  id: crypto.randomUUID(),
  caller: 'crm',
  state: 'queued',
  conversationId,
  target: { participantId: 'p' },
  changes: { email: 'jane.doe@example.com', tier: 'gold' },
  seq: ++seq,
  attempts: 0,
  acceptedAt: Date.now(),
})

/** What the worker and the status routes rely on, whichever store keeps the updates. */
async function contract (t: Test, store: DeliveryStore) {
  t.test('values are dropped once an update settles', async (t) => {
    const d = update()
    t.not(await store.add(d, 10), 'full')
    t.same((await store.get(d.id))?.changes, d.changes, 'kept while the update waits: the worker needs them')
    await store.save([{ ...d, state: 'written', attempts: 1, settledAt: Date.now() }])
    const kept = await store.get(d.id)
    t.equal(kept?.state, 'written')
    t.same(kept?.changes, { email: '', tier: '' }, 'once settled, the keys only: values may be personal data')
  })

  t.test("a conversation's pending updates, in its order, until each settles", async (t) => {
    const c = crypto.randomUUID()
    const [a, b, other] = [update(c), update(c), update()]
    for (const d of [a, b, other]) await store.add(d, 100)
    t.same((await store.pending(c)).map((d) => d.id), [a.id, b.id])
    const before = await store.backlog()
    await store.save([{ ...a, state: 'retrying', attempts: 1 }, { ...b, state: 'failed', attempts: 1, settledAt: Date.now(), error: { code: 'UPSTREAM_REJECTED', status: 422, detail: 'no' } }])
    t.same((await store.pending(c)).map((d) => [d.id, d.state]), [[a.id, 'retrying']], 'a settled one leaves, a retrying one stays')
    t.equal(await store.backlog(), before - 1)
    t.same((await store.list('crm', 'failed', 0, 10)).items.map((d) => d.id), [b.id])
    await store.discard(a)
    t.same(await store.pending(c), [], 'a discarded one is gone')
    t.equal(await store.get(a.id), undefined)
  })

  t.test('a settled update stays settled: an overlapping attempt can neither undo it nor deliver it again', async (t) => {
    const c = crypto.randomUUID()
    const d = update(c)
    await store.add(d, 100)
    await store.save([{ ...d, state: 'written', attempts: 1, settledAt: Date.now() }])
    await store.save([{ ...d, state: 'retrying', attempts: 1, error: { code: 'UPSTREAM_ERROR', status: 502, detail: 'late' } }])
    t.match(await store.get(d.id), { state: 'written' }, 'the late save of the other attempt is ignored')
    t.same(await store.pending(c), [])
  })

  t.test('stale: conversations of the updates waiting longest, a page at a time', async (t) => {
    const c = crypto.randomUUID()
    const old = { ...update(c), acceptedAt: 1000 }
    const older = { ...update(c), acceptedAt: 500 }
    const other = { ...update(), acceptedAt: 1500 }
    for (const d of [old, older, other]) await store.add(d, 1000)
    const first = await store.stale(0, 2000, 2)
    t.same(first, { conversations: [c], last: 1000 })
    t.same(await store.stale(first.last!, 2000, 2), { conversations: [other.conversationId] }, 'the next page, and no more')
  })

  t.test('past the bound, nothing is stored', async (t) => {
    const backlog = await store.backlog()
    const d = update()
    t.equal(await store.add(d, backlog), 'full')
    t.equal(await store.get(d.id), undefined)
    t.same(await store.pending(d.conversationId), [])
    t.equal(await store.backlog(), backlog)
  })
}

t.test('memory store', async (t) => {
  const store = new MemoryDeliveryStore()
  t.teardown(() => store.close())
  await contract(t, store)
})

t.test('Redis store', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  await contract(t, new RedisDeliveryStore(client, { prefix: `test:${crypto.randomUUID()}:`, maxAgeMs: 600_000 }))
})
