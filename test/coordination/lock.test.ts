import { Redis } from 'ioredis'
import t from 'tap'
import type { Lease } from '../../src/updates/ports.ts'
import { RedisConversationLock } from '../../src/coordination/lock-conversation.ts'
import { FakeClock } from '../helpers/clock.ts'
import { intercepting, resending, startRedis } from '../helpers/redis.ts'
import type { Teardown } from '../helpers/stack.ts'
import { until } from '../helpers/until.ts'

// The lock's own time (renewals, leases, retries) runs on a FakeClock the tests step; Redis's
// leases are real, and long (30 s), so that no test races them. Whatever a test starts, it
// stops in its teardown, within a bound: a failed assertion must not leave a renewal or a
// connection keeping the file alive until tap's timeout.

const LEASE_MS = 30_000
/** When a lease stops counting as held: it cannot have lapsed in Redis before. */
const SAFE_MS = LEASE_MS - LEASE_MS / 6

/** Runs `stop`, giving up after a second: a teardown must end. */
const bounded = (stop: () => Promise<unknown>) => () => Promise.race([stop().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())])

/** `lease`, released when the test ends whatever happened. */
function owned (t: Teardown, lease: Lease): Lease {
  t.teardown(bounded(() => lease.release()))
  return lease
}

const outcome = (p: Promise<unknown>): (() => string) => {
  let seen = 'waiting'
  p.then(() => (seen = 'held'), (e: { code?: string }) => (seen = e.code ?? String(e)))
  return () => seen
}

t.test('one holder per conversation, under the key docs/redis.md names; renewed while held; the next waiter gets it on release', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(bounded(() => client.quit()))
  const clock = new FakeClock()
  const prefix = `pdg:test-${crypto.randomUUID()}:`
  const lock = new RedisConversationLock(client, { prefix, leaseMs: LEASE_MS, clock })
  const a = owned(t, await lock.acquire('c-1', clock.now() + 1000))
  t.equal(await client.exists(`${prefix}{c:c-1}:lock`), 1, 'pdg:<client>:{c:<conversationId>}:lock, in the conversation\'s slot')
  // Three leases long: only renewals (every third of a lease) keep it. A PING on the same
  // connection is answered after the renewal sent before it.
  const held: boolean[] = []
  for (let i = 0; i < 9; i++) {
    await clock.advance(LEASE_MS / 3)
    await client.ping()
    held.push(a.held)
  }
  t.same(held, Array(9).fill(true), 'still held, three leases on')
  await t.rejects(lock.acquire('c-1', clock.now() + 5), { code: 'DEADLINE_EXCEEDED' }, 'nobody else takes it meanwhile')
  const b = outcome(lock.acquire('c-1', clock.now() + 5000).then((lease) => owned(t, lease)))
  await a.release()
  // b asks again every 10 ms of the fake clock.
  await until(async () => { await clock.advance(10); return b() }, (s) => s !== 'waiting', { what: 'the waiter holding the lock', withinMs: 5000 })
  t.equal(b(), 'held', 'the waiter takes it once released')
})

t.test('Redis unreachable: acquiring is 503, and a held lease stops counting as held before it could have lapsed', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await new Promise((resolve) => client.once('ready', resolve))
  const clock = new FakeClock()
  const lock = new RedisConversationLock(client, { prefix: `pdg:test-${crypto.randomUUID()}:`, leaseMs: LEASE_MS, clock })
  const a = owned(t, await lock.acquire('c-1', clock.now() + 1000))
  await redis.cut()
  t.teardown(() => redis.restore())
  await until(() => client.status, (s) => s !== 'ready', { what: 'the client seeing Redis gone' })
  await clock.advance(SAFE_MS - 1) // two renewals fail meanwhile
  t.ok(a.held, 'held while its lease cannot have lapsed')
  await clock.advance(1)
  t.notOk(a.held, 'not held a sixth of a lease before it could lapse: nothing may be sent')
  await t.rejects(lock.acquire('c-2', clock.now() + 1000), { code: 'COORDINATION_UNAVAILABLE' })
})

t.test('a lease is counted from when it was asked for, not from when the answer was read', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(bounded(() => client.quit()))
  const clock = new FakeClock()
  // The event loop stalls 900 ms between Redis's answer to the lock's first script (taking it)
  // and its reading here; no renewal gets through after that, so only the taking's time counts.
  let taken = false
  const stalled = intercepting(client, 'scripts', async (send) => {
    if (taken) throw new Error('Connection is closed.')
    const answer = await send()
    taken = true
    await clock.advance(900)
    return answer
  })
  const lock = new RedisConversationLock(stalled, { prefix: `pdg:test-${crypto.randomUUID()}:`, leaseMs: LEASE_MS, clock })
  const sent = clock.now()
  const a = owned(t, await lock.acquire('c-1', sent + 1000))
  t.equal(clock.now(), sent + 900, 'the answer was read 900 ms after the request was sent')
  await clock.advance(sent + SAFE_MS - 1 - clock.now())
  t.ok(a.held, 'held until a sixth of a lease before the lease, counted from the request, lapses')
  await clock.advance(1)
  t.notOk(a.held, 'and not after: a lease counted from the answer would still say held')
})

t.test('a renewal is counted from when it was sent, not from when its answer was read', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(bounded(() => client.quit()))
  const clock = new FakeClock()
  // Scripts: the first takes the lock, the second (the first renewal) is answered only when the
  // test opens the gate, and every later one fails (Redis gone).
  let calls = 0
  let answered = false
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  const slow = intercepting(client, 'scripts', async (send) => {
    const n = ++calls
    if (n > 2) throw new Error('Connection is closed.')
    const answer = await send()
    if (n === 2) {
      await gate
      answered = true
    }
    return answer
  })
  const lock = new RedisConversationLock(slow, { prefix: `pdg:test-${crypto.randomUUID()}:`, leaseMs: LEASE_MS, clock })
  const start = clock.now()
  const a = owned(t, await lock.acquire('c-1', start + 1000))
  await clock.advance(LEASE_MS / 3) // the renewal is sent
  const sent = clock.now()
  await clock.advance(900) // and answered 900 ms later
  open()
  await until(() => answered, Boolean, { what: 'the renewal answered', withinMs: 5000 })
  await clock.advance(sent + SAFE_MS - 1 - clock.now())
  t.ok(a.held, 'held until a sixth of a lease before the lease, counted from the renewal, lapses')
  await clock.advance(1)
  t.notOk(a.held, 'and not after')
})

t.test('taking the lock, run twice as ioredis does when it resends after a reconnect, still takes it', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(bounded(() => client.quit()))
  const twice = resending(client, ['pdgLockTake', 'pdgLockKeep'])
  const clock = new FakeClock()
  const lock = new RedisConversationLock(twice, { prefix: `pdg:test-${crypto.randomUUID()}:`, leaseMs: LEASE_MS, clock })
  // A deadline too close to ask twice: only the first answer can take it.
  const a = owned(t, await lock.acquire('c-1', clock.now() + 5))
  t.ok(a.held, 'its own key, found by the second run, is taken, not waited for')
})
