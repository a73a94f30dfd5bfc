import { Redis } from 'ioredis'
import t from 'tap'
import { MemoryReplayStore, RedisReplayStore } from '../../src/coordination/replays.ts'
import { FakeClock } from '../helpers/clock.ts'
import { resending, startRedis } from '../helpers/redis.ts'

t.test('memory: a signature is tied to its first request while fresh, on the clock it is given', async (t) => {
  const clock = new FakeClock()
  const replays = new MemoryReplayStore(100, clock)
  t.equal(await replays.first('sig', 'POST /a', 1000), 'POST /a')
  t.equal(await replays.first('sig', 'POST /b', 1000), 'POST /a', 'another URL with it: a replay')
  await clock.advance(1000)
  t.equal(await replays.first('sig', 'POST /b', 1000), 'POST /a', 'still, to the end of its freshness')
  await clock.advance(1)
  t.equal(await replays.first('sig', 'POST /b', 1000), 'POST /b', 'forgotten once stale (the signature check refuses it by then)')
})

t.test('Redis: a SET sent again after a reconnect answers the first request as the first time', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  const prefix = `test:${crypto.randomUUID()}:`
  const replays = new RedisReplayStore(resending(client, ['set']), prefix)
  t.equal(await replays.first('sig', 'POST /a', 60_000), 'POST /a', 'the first request, not a replay of itself')
  t.equal(await new RedisReplayStore(client, prefix).first('sig', 'POST /b', 60_000), 'POST /a', 'another URL with it: a replay')
})
