import { Redis } from 'ioredis'
import t from 'tap'
import { RedisOrder } from '../../src/coordination/order-redis.ts'
import { resending, startRedis } from '../helpers/redis.ts'

// ioredis sends a command again on a new connection when the old one broke before its answer came
// (autoResendUnfulfilledCommands), so a script may run twice. Here every RECORD runs twice, and an
// asynchronous update is accepted between the two runs, as it could be on another replica.
t.test('a synchronous write recorded twice by a resend takes one number: an update accepted in between still counts as newer', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const order = new RedisOrder(client, 'resend:')
  let accepted: number | undefined
  // Another replica accepts an update between the two runs.
  const twice = resending(client, ['pdgOrderRecord', 'pdgOrderNext'], async () => { accepted ??= await order.next('c1') })
  await new RedisOrder(twice, 'resend:').written('c1', 'p1', ['tier'], {})
  t.ok(accepted !== undefined, 'an update was accepted between the two runs')
  const kept = await order.unsuperseded('c1', 'p1', { tier: 'gold' }, { tier: accepted! })
  t.same(kept, { tier: 'gold' }, 'the update accepted after the synchronous write is not left out as older')
})
