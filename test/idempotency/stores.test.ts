import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { MemoryIdempotencyStore } from '../../src/idempotency/memory.js'
import { RedisIdempotencyStore } from '../../src/idempotency/redis.js'
import type { IdempotencyStore } from '../../src/idempotency/store.js'
import { startRedis } from '../helpers/redis.js'

const answer = (n: number) => ({ status: 200, body: { n } })
const soon = (ms = 2000) => Date.now() + ms

type Tap = Pick<typeof t, 'test'>

/** What both stores promise; `make` gives a fresh store with this time to live. */
function contract (tap: Tap, name: string, make: (ttlMs: number) => Promise<IdempotencyStore>) {
  tap.test(`${name}: the first claim goes ahead; a repeat gets its answer, another request is a mismatch`, async (t) => {
    const store = await make(60_000)
    const first = await store.claim('k1', 'fp-a', soon())
    t.equal(first.kind, 'new')
    if (first.kind === 'new') first.settle(answer(1))
    await sleep(20) // the Redis store settles in the background
    t.same(await store.claim('k1', 'fp-a', soon()), { kind: 'replay', answer: answer(1) })
    t.same(await store.claim('k1', 'fp-b', soon()), { kind: 'mismatch' })
    t.equal((await store.claim('k2', 'fp-a', soon())).kind, 'new', 'keys are independent')
  })

  tap.test(`${name}: a failed request frees its key for the retry`, async (t) => {
    const store = await make(60_000)
    const first = await store.claim('k', 'fp', soon())
    if (first.kind === 'new') first.settle(undefined)
    await sleep(20)
    t.equal((await store.claim('k', 'fp', soon())).kind, 'new')
  })

  tap.test(`${name}: a repeat waits for the one in flight and gets its answer`, async (t) => {
    const store = await make(60_000)
    const first = await store.claim('k', 'fp', soon())
    const repeat = store.claim('k', 'fp', soon())
    await sleep(100)
    if (first.kind === 'new') first.settle(answer(7))
    t.same(await repeat, { kind: 'replay', answer: answer(7) })
  })

  tap.test(`${name}: a repeat still waiting at its deadline is refused IDEMPOTENCY_KEY_IN_FLIGHT`, async (t) => {
    const store = await make(60_000)
    await store.claim('k', 'fp', soon())
    const started = Date.now()
    await t.rejects(store.claim('k', 'fp', soon(200)), { code: 'IDEMPOTENCY_KEY_IN_FLIGHT', retryAfter: 1 })
    t.ok(Date.now() - started < 600, 'by its deadline')
  })

  tap.test(`${name}: an answer is kept for the time to live, then the key is new again`, async (t) => {
    const store = await make(150)
    const first = await store.claim('k', 'fp', soon())
    if (first.kind === 'new') first.settle(answer(1))
    await sleep(20)
    t.equal((await store.claim('k', 'fp', soon())).kind, 'replay')
    await sleep(250)
    t.equal((await store.claim('k', 'fp', soon())).kind, 'new')
  })
}

contract(t, 'memory', async (ttlMs) => new MemoryIdempotencyStore({ max: 100, ttlMs }))

t.test('memory: at most `max` keys, the least recently used going first', async (t) => {
  const store = new MemoryIdempotencyStore({ max: 2, ttlMs: 60_000 })
  for (const k of ['a', 'b', 'c']) {
    const c = await store.claim(k, 'fp', soon())
    if (c.kind === 'new') c.settle(answer(1))
  }
  t.equal((await store.claim('a', 'fp', soon())).kind, 'new', 'a was dropped for c')
  t.equal((await store.claim('c', 'fp', soon())).kind, 'replay')
})

t.test('redis', async (t) => {
  const redis = await startRedis(t)
  t.comment(`redis from ${redis.source}`)
  const clients: Redis[] = []
  t.teardown(() => clients.forEach((c) => c.disconnect()))
  const connect = () => {
    const c = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  let n = 0
  const make = async (ttlMs: number, pendingMs = 10_000, prefix = `test${++n}:`) => {
    const c = connect()
    if (c.status !== 'ready') await new Promise((resolve) => c.once('ready', resolve))
    return new RedisIdempotencyStore(c, { prefix, ttlMs, pendingMs, pollMs: 20 })
  }
  contract(t, 'redis', make)

  t.test('redis: two replicas share the keys', async (t) => {
    const a = await make(60_000, 10_000, 'shared:')
    const b = await make(60_000, 10_000, 'shared:')
    const first = await a.claim('k', 'fp', soon())
    const repeat = b.claim('k', 'fp', soon())
    if (first.kind === 'new') first.settle(answer(3))
    t.same(await repeat, { kind: 'replay', answer: answer(3) }, 'the other replica waits for it and replays it')
    t.same(await b.claim('k', 'other', soon()), { kind: 'mismatch' })
  })

  t.test('redis: a claim whose replica died is freed after pendingMs', async (t) => {
    const store = await make(60_000, 150)
    await store.claim('k', 'fp', soon()) // never settled
    await sleep(250)
    t.equal((await store.claim('k', 'fp', soon())).kind, 'new')
  })

  t.test('redis: a late settle leaves a newer claim alone', async (t) => {
    const store = await make(60_000, 300)
    const old = await store.claim('k', 'fp', soon())
    await sleep(400)
    const current = await store.claim('k', 'fp', soon())
    t.equal(current.kind, 'new')
    if (old.kind === 'new') old.settle(answer(1))
    await sleep(20)
    await t.rejects(store.claim('k', 'fp', soon(100)), { code: 'IDEMPOTENCY_KEY_IN_FLIGHT' }, 'still held by the newer claim')
  })

  t.test('redis: Redis unreachable is 503 COORDINATION_UNAVAILABLE', async (t) => {
    const store = await make(60_000)
    await redis.cut()
    t.teardown(() => redis.restore())
    await sleep(50)
    await t.rejects(store.claim('k', 'fp', soon()), { code: 'COORDINATION_UNAVAILABLE' })
  })
})
