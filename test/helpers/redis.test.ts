import { Redis } from 'ioredis'
import t from 'tap'
import { startRedis } from './redis.ts'

// The tests' Redis is their own, whatever REDIS_URL a developer's shell holds (a .env loaded for
// the service): never a database of theirs, nor half of its URL (host and port without its
// password, database or TLS).

t.test('REDIS_URL in the environment is left alone: the tests start a private Redis', async (t) => {
  const before = process.env.REDIS_URL
  // A Redis of "the developer's own" that the tests must not touch: nothing listens on port 9.
  process.env.REDIS_URL = 'rediss://:their-password@127.0.0.1:9/5'
  t.teardown(() => {
    if (before === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = before
  })
  const redis = await startRedis(t)
  t.notMatch(redis.source, /REDIS_URL/)
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  t.teardown(() => client.disconnect())
  await client.connect()
  t.equal(await client.ping(), 'PONG', `${redis.source} answers`)
})
