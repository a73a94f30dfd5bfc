import { Redis } from 'ioredis'
import t from 'tap'
import { RedisTokenStore } from '../../src/coordination/token-redis.ts'
import type { CachedToken } from '../../src/coordination/token.ts'
import { FakeClock } from '../helpers/clock.ts'
import { resending, startRedis } from '../helpers/redis.ts'
import { until } from '../helpers/until.ts'

// Two replicas' token stores over one real Redis; the refresh lock's retries run on a FakeClock
// the test steps.

t.test('two replicas needing a token at once: one fetches it, the other waits for it and uses the same', async (t) => {
  const redis = await startRedis(t)
  const [ca, cb] = [new Redis(redis.url), new Redis(redis.url)]
  t.teardown(() => {
    ca.disconnect()
    cb.disconnect()
  })
  const clock = new FakeClock()
  const prefix = `pdg:test-${crypto.randomUUID()}:`
  // b's lock attempts (TAKE) are counted: sent twice each, which the lock takes as once.
  let attempts = 0
  const a = new RedisTokenStore(ca, prefix, 2000, clock)
  const b = new RedisTokenStore(resending(cb, ['pdgLockTake'], async () => attempts++), prefix, 2000, clock)
  let fetches = 0
  let arrive!: () => void
  const answered = new Promise<void>((resolve) => (arrive = resolve))
  const fetch = async (): Promise<CachedToken> => {
    const n = ++fetches
    await answered
    return { value: `token-${n}`, refreshAt: clock.now() + 60_000 }
  }
  const usable = (token: CachedToken) => clock.now() < token.refreshAt
  const first = a.refresh(fetch, usable)
  await until(() => fetches, (n) => n === 1, { what: "a's token request sent" })
  const second = b.refresh(fetch, usable)
  // b finds the refresh taken, and asks again every 25 ms of the fake clock (or, wrongly, asks Genesys).
  await until(async () => {
    await clock.advance(25)
    return { attempts, fetches }
  }, (s) => s.attempts >= 2 || s.fetches > 1, { what: 'b waiting for the refresh lock' })
  t.equal(fetches, 1, 'b did not ask Genesys itself')
  arrive()
  const got = await first
  let settled = false
  void second.then(() => (settled = true), () => (settled = true))
  // b asks again, takes the lock, and finds the token a stored.
  await until(async () => {
    await clock.advance(25)
    return settled
  }, Boolean, { what: "b's refresh answered" })
  const seen = await second
  t.equal(fetches, 1, 'one token request for both replicas')
  t.same(seen, got, 'b uses the token a fetched')
})
