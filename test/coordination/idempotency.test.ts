import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import t from 'tap'
import { MemoryIdempotencyStore } from '../../src/coordination/idempotency-memory.ts'
import { RedisIdempotencyStore } from '../../src/coordination/idempotency-redis.ts'
import type { KeyVerdict, IdempotencyStore } from '../../src/coordination/idempotency.ts'
import { FakeClock } from '../helpers/clock.ts'
import { fastClients, resending, startRedis } from '../helpers/redis.ts'
import { until } from '../helpers/until.ts'

const answer = (n: number) => ({ status: 200, body: { n } })
const POLL_MS = 20

type Tap = Pick<typeof t, 'test'>

/** A store on a fake clock; `lapse` makes a key's time to live (or hold) of `ms` run out. */
interface Made {
  store: IdempotencyStore
  clock: FakeClock
  lapse: (key: string, ms: number) => Promise<void>
}

/**
 * What a claim that waits for another answers, the fake clock stepped a poll at a time meanwhile
 * (the Redis store looks again every POLL_MS): `{ code }` when it is refused.
 */
async function waited (clock: FakeClock, claim: Promise<KeyVerdict>): Promise<KeyVerdict | { code: string }> {
  let done: KeyVerdict | { code: string } | undefined
  claim.then((c) => (done = c), (err: { code: string }) => (done = { code: err.code }))
  return until(async () => {
    if (done === undefined) await clock.advance(POLL_MS)
    return done
  }, (d) => d !== undefined, { what: 'the waiting claim to answer' }) as Promise<KeyVerdict | { code: string }>
}

/** What both stores promise; `make` gives a fresh store with this time to live. */
function contract (tap: Tap, name: string, make: (ttlMs: number) => Promise<Made>) {
  tap.test(`${name}: the first claim goes ahead; a repeat gets its answer, another request is a mismatch`, async (t) => {
    const { store, clock } = await make(60_000)
    const first = await store.claim('k1', 'fp-a', clock.now() + 2000)
    t.equal(first.kind, 'new')
    if (first.kind === 'new') await first.settle(answer(1))
    t.same(await store.claim('k1', 'fp-a', clock.now() + 2000), { kind: 'replay', answer: answer(1) })
    t.same(await store.claim('k1', 'fp-b', clock.now() + 2000), { kind: 'mismatch' })
    t.equal((await store.claim('k2', 'fp-a', clock.now() + 2000)).kind, 'new', 'keys are independent')
  })

  tap.test(`${name}: a failed request frees its key for the retry`, async (t) => {
    const { store, clock } = await make(60_000)
    const first = await store.claim('k', 'fp', clock.now() + 2000)
    if (first.kind === 'new') await first.settle(undefined)
    t.equal((await store.claim('k', 'fp', clock.now() + 2000)).kind, 'new')
  })

  tap.test(`${name}: a repeat waits for the one in flight and gets its answer`, async (t) => {
    const { store, clock } = await make(60_000)
    const first = await store.claim('k', 'fp', clock.now() + 2000)
    let got: KeyVerdict | undefined
    const repeat = store.claim('k', 'fp', clock.now() + 2000).then((c) => (got = c))
    for (let i = 0; i < 10; i++) await clock.advance(POLL_MS)
    t.equal(got, undefined, 'still waiting while the first is in flight')
    if (first.kind === 'new') await first.settle(answer(7))
    t.same(await waited(clock, repeat), { kind: 'replay', answer: answer(7) })
  })

  tap.test(`${name}: a repeat still waiting at its deadline is refused IDEMPOTENCY_KEY_IN_FLIGHT, not later`, async (t) => {
    const { store, clock } = await make(60_000)
    await store.claim('k', 'fp', clock.now() + 2000)
    const deadline = clock.now() + 200
    t.match(await waited(clock, store.claim('k', 'fp', deadline)), { code: 'IDEMPOTENCY_KEY_IN_FLIGHT' })
    t.ok(clock.now() <= deadline, `by its deadline (${clock.now() - deadline} ms)`)
  })

  tap.test(`${name}: an answer is kept for the time to live, then the key is new again`, async (t) => {
    const { store, clock, lapse } = await make(150)
    const first = await store.claim('k', 'fp', clock.now() + 2000)
    if (first.kind === 'new') await first.settle(answer(1))
    await clock.advance(149)
    t.equal((await store.claim('k', 'fp', clock.now() + 2000)).kind, 'replay')
    await lapse('k', 150)
    t.equal((await store.claim('k', 'fp', clock.now() + 2000)).kind, 'new')
  })
}

contract(t, 'memory', async (ttlMs) => {
  const clock = new FakeClock()
  return { store: new MemoryIdempotencyStore({ max: 100, ttlMs, clock }), clock, lapse: (_key, ms) => clock.advance(ms) }
})

t.test('memory: at most `max` keys, the least recently used going first', async (t) => {
  const clock = new FakeClock()
  const store = new MemoryIdempotencyStore({ max: 2, ttlMs: 60_000, clock })
  for (const k of ['a', 'b', 'c']) {
    const c = await store.claim(k, 'fp', clock.now() + 2000)
    if (c.kind === 'new') await c.settle(answer(1))
  }
  t.equal((await store.claim('a', 'fp', clock.now() + 2000)).kind, 'new', 'a was dropped for c')
  t.equal((await store.claim('c', 'fp', clock.now() + 2000)).kind, 'replay')
})

t.test('redis', async (t) => {
  const redis = await startRedis(t)
  t.comment(`redis from ${redis.source}`)
  const connect = fastClients(t, redis.url, { retryStrategy: () => 100 })
  const peek = await connect()
  const keyOf = (prefix: string, key: string) => `${prefix}idempotency:${createHash('sha256').update(key).digest('base64url')}`
  let n = 0
  /**
   * Redis expires keys on its own clock, which a test cannot step: `lapse` checks the key's time
   * to live is what the store set, then ends it.
   */
  const make = async (ttlMs: number, pendingMs = 10_000, prefix = `test${++n}:`, client?: Redis) => {
    const clock = new FakeClock()
    const store = new RedisIdempotencyStore(client ?? (await connect()), { prefix, ttlMs, pendingMs, pollMs: POLL_MS, clock })
    const lapse = async (key: string, ms: number) => {
      const left = await peek.pttl(keyOf(prefix, key))
      t.ok(left > 0 && left <= ms, `Redis expires it within ${ms} ms (${left} ms left)`)
      await peek.del(keyOf(prefix, key))
    }
    return { store, clock, lapse }
  }
  contract(t, 'redis', make)

  t.test('redis: two replicas share the keys', async (t) => {
    const { store: a, clock } = await make(60_000, 10_000, 'shared:')
    const { store: b, clock: bClock } = await make(60_000, 10_000, 'shared:')
    const first = await a.claim('k', 'fp', clock.now() + 2000)
    const repeat = b.claim('k', 'fp', bClock.now() + 2000)
    if (first.kind === 'new') await first.settle(answer(3))
    t.same(await waited(bClock, repeat), { kind: 'replay', answer: answer(3) }, 'the other replica waits for it and replays it')
    t.same(await b.claim('k', 'other', clock.now() + 2000), { kind: 'mismatch' })
  })

  t.test('redis: a claim whose replica died is freed after pendingMs', async (t) => {
    const { store, clock, lapse } = await make(60_000, 150)
    await store.claim('k', 'fp', clock.now() + 2000) // never settled
    await lapse('k', 150)
    t.equal((await store.claim('k', 'fp', clock.now() + 2000)).kind, 'new')
  })

  t.test('redis: a late settle leaves a newer claim alone', async (t) => {
    const { store, clock, lapse } = await make(60_000, 300)
    const old = await store.claim('k', 'fp', clock.now() + 2000)
    await lapse('k', 300)
    const current = await store.claim('k', 'fp', clock.now() + 2000)
    t.equal(current.kind, 'new')
    if (old.kind === 'new') await old.settle(answer(1))
    t.match(await waited(clock, store.claim('k', 'fp', clock.now() + 100)), { code: 'IDEMPOTENCY_KEY_IN_FLIGHT' }, 'still held by the newer claim')
  })

  t.test('redis: a claim sent again finds the key its first sending took, and holds it', async (t) => {
    const { store, clock } = await make(60_000, 10_000, undefined, resending(await connect(), ['set']))
    const first = await store.claim('k', 'fp', clock.now())
    t.equal(first.kind, 'new', 'not refused as in flight: the request in flight is itself')
    if (first.kind === 'new') await first.settle(answer(1))
    t.same(await store.claim('k', 'fp', clock.now()), { kind: 'replay', answer: answer(1) })
  })

  t.test('redis: a settle sent again changes nothing, though the key was freed and claimed by another since', async (t) => {
    const client = await connect()
    const { store, clock } = await make(60_000, 10_000, 'resent:', resending(client, ['pdgIdempotencySettle']))
    const { store: other } = await make(60_000, 10_000, 'resent:', client)
    const failed = await store.claim('k', 'fp', clock.now())
    if (failed.kind === 'new') await failed.settle(undefined)
    const retry = await other.claim('k', 'fp', clock.now())
    t.equal(retry.kind, 'new', 'the key freed by the failure: the retry goes ahead')
    if (failed.kind === 'new') await failed.settle(undefined)
    t.match(await waited(clock, other.claim('k', 'fp', clock.now())), { code: 'IDEMPOTENCY_KEY_IN_FLIGHT' }, 'the retry still holds it')
    if (retry.kind === 'new') await retry.settle(answer(2))
    t.same(await other.claim('k', 'fp', clock.now()), { kind: 'replay', answer: answer(2) })
  })

  t.test('redis: Redis unreachable is 503 COORDINATION_UNAVAILABLE', async (t) => {
    const client = await connect()
    const { store, clock } = await make(60_000, 10_000, undefined, client)
    await redis.cut()
    t.teardown(() => redis.restore())
    await until(() => client.status, (s) => s !== 'ready', { what: 'the client to see the connection gone' })
    await t.rejects(store.claim('k', 'fp', clock.now() + 2000), { code: 'COORDINATION_UNAVAILABLE' })
  })
})
