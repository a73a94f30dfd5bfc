import { Redis } from 'ioredis'
import t from 'tap'
import { RedisConversationLock } from '../../src/updates/lock-redis.js'
import { startRedis } from '../helpers/redis.js'

t.test('one holder per conversation, under the key docs/redis.md names; renewed while held; the next waiter gets it on release', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  const prefix = `pdg:test-${crypto.randomUUID()}:`
  const lock = new RedisConversationLock(client, { prefix, leaseMs: 300 })
  const a = await lock.acquire('c-1', Date.now() + 1000)
  t.equal(await client.exists(`${prefix}{c:c-1}:lock`), 1, 'pdg:<client>:{c:<conversationId>}:lock, in the conversation\'s slot')
  // Three leases long: only renewals keep it.
  for (const end = Date.now() + 900; Date.now() < end;) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(a.held, 'still held')
  await t.rejects(lock.acquire('c-1', Date.now() + 100), { code: 'DEADLINE_EXCEEDED' }, 'nobody else takes it meanwhile')
  const b = lock.acquire('c-1', Date.now() + 5000)
  await a.release()
  t.ok((await b).held, 'the waiter takes it once released')
  await (await b).release()
  t.equal(await client.exists(`${prefix}{c:c-1}:lock`), 0, 'released: gone')
})

t.test('Redis unreachable: acquiring is 503, and a held lease stops counting as held before it could have lapsed', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await new Promise((resolve) => client.once('ready', resolve))
  const lock = new RedisConversationLock(client, { prefix: `pdg:test-${crypto.randomUUID()}:`, leaseMs: 300 })
  const a = await lock.acquire('c-1', Date.now() + 1000)
  await redis.cut()
  while (a.held) await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(a.held, 'not held: nothing may be sent')
  await t.rejects(lock.acquire('c-2', Date.now() + 1000), { code: 'COORDINATION_UNAVAILABLE' })
  await a.release()
  await redis.restore()
})
