import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryDeliveryStore } from '../../src/delivery/memory.js'
import { RedisDeliveryStore } from '../../src/delivery/redis.js'
import type { Delivery, DeliveryStore } from '../../src/delivery/store.js'
import { startRedis } from '../helpers/redis.js'

const update = (): Delivery => ({
  id: crypto.randomUUID(),
  caller: 'crm',
  state: 'queued',
  conversationId: crypto.randomUUID(),
  target: { participantId: 'p' },
  changes: { email: 'jane.doe@example.com', tier: 'gold' },
  seq: 1,
  attempts: 0,
  acceptedAt: Date.now(),
})

async function valuesGoOnceSettled (t: Test, store: DeliveryStore) {
  const d = update()
  await store.add(d)
  t.same((await store.get(d.id))?.changes, d.changes, 'kept while the update waits: the worker needs them')
  await store.save({ ...d, state: 'written', attempts: 1, settledAt: Date.now() })
  const kept = await store.get(d.id)
  t.equal(kept?.state, 'written')
  t.same(kept?.changes, { email: '', tier: '' }, 'once settled, the keys only: values may be personal data')
}

t.test('memory store: values are dropped once an update settles', async (t) => {
  await valuesGoOnceSettled(t, new MemoryDeliveryStore())
})

t.test('Redis store: values are dropped once an update settles', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  await valuesGoOnceSettled(t, new RedisDeliveryStore(client, { prefix: `test:${crypto.randomUUID()}:`, maxAgeMs: 600_000 }))
})
