import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryDeliveryStore } from '../../src/coordination/delivery-memory.ts'
import { RedisDeliveryStore } from '../../src/coordination/delivery-redis.ts'
import type { Delivery, DeliveryStore } from '../../src/coordination/delivery.ts'
import { MemoryResendLedger, RedisResendLedger, type ResendLedger } from '../../src/coordination/resends.ts'
import { FakeClock } from '../helpers/clock.ts'
import { intercepting, resending, startRedis } from '../helpers/redis.ts'

let seq = 0
/**
 * The stores' clock, standing still: every time below is exact, and nothing waits. Redis keeps
 * the due list on its own clock (TIME), far from this one, which therefore decides nothing there:
 * a lease that must lapse is taken for 0 ms, and one that must hold for LEASE.
 */
const now = 1_000_000
const clock = new FakeClock(now)
const LEASE = 25_000

const update = (conversationId: string = crypto.randomUUID(), acceptedAt = now): Delivery => ({
  id: crypto.randomUUID(),
  caller: 'crm',
  state: 'queued',
  conversationId,
  target: { participantId: 'p' },
  changes: { email: 'jane.doe@example.com', tier: 'gold' },
  seq: ++seq,
  attempts: 0,
  acceptedAt,
})

const written = (d: Delivery): Delivery => ({ ...d, state: 'written', attempts: 1, settledAt: now })
const ids = (claims: Array<{ conversationId: string }>) => claims.map((c) => c.conversationId).sort()

/** What the scheduler and the status routes rely on, whichever store keeps the updates; a fresh store per subtest. */
async function contract (t: Test, make: () => DeliveryStore) {
  t.test('values are dropped once an update settles', async (t) => {
    const store = make()
    const d = update()
    t.ok(await store.accept(d, 10))
    t.same((await store.get(d.id))?.changes, d.changes, 'kept while the update waits: the worker needs them')
    const [claim] = await store.claim(LEASE, 10)
    await store.finish(claim!, [written(d)], now)
    const kept = await store.get(d.id)
    t.equal(kept?.state, 'written')
    t.same(kept?.changes, { email: '', tier: '' }, 'once settled, the keys only: values may be personal data')
  })

  t.test("a conversation's pending updates, in its order, until each settles", async (t) => {
    const store = make()
    const c = crypto.randomUUID()
    const [a, b, other] = [update(c), update(c), update()]
    for (const d of [a, b, other]) await store.accept(d, 100)
    t.same((await store.pending(c)).map((d) => d.id), [a.id, b.id])
    t.same(await store.backlog(), { count: 3, oldest: now })
    const claim = (await store.claim(LEASE, 10)).find((x) => x.conversationId === c)!
    await store.finish(claim, [{ ...a, state: 'retrying', attempts: 1 }, { ...b, state: 'failed', attempts: 1, settledAt: now, error: { code: 'UPSTREAM_REJECTED', status: 422, detail: 'no' } }], now + 1000)
    t.same((await store.pending(c)).map((d) => [d.id, d.state]), [[a.id, 'retrying']], 'a settled one leaves, a retrying one stays')
    t.equal((await store.backlog()).count, 2)
    t.same((await store.list('crm', 'failed', 0, 10)).items.map((d) => d.id), [b.id])
  })

  t.test('every accepted update is due at once: a conversation is claimed once per lease, and again when a claim lapses', async (t) => {
    const store = make()
    // Five conversations accepted in the same millisecond, claimed two at a time: none is skipped.
    const cs = Array.from({ length: 5 }, () => crypto.randomUUID())
    for (const c of cs) await store.accept(update(c), 100)
    const claimed = [...(await store.claim(LEASE, 2)), ...(await store.claim(LEASE, 2)), ...(await store.claim(LEASE, 2))]
    t.same(ids(claimed), [...cs].sort(), 'each once')
    t.same(await store.claim(LEASE, 10), [], 'nobody takes a claimed conversation while its lease holds')
    // Their replica died: nothing ended the claims, and the conversations are due again when the lease ends.
    const lapsing = Array.from({ length: 2 }, () => crypto.randomUUID())
    for (const c of lapsing) await store.accept(update(c), 100)
    t.same(ids(await store.claim(0, 10)), [...lapsing].sort())
    t.same(ids(await store.claim(LEASE, 10)), [...lapsing].sort(), 'a dead replica\'s claims lapse by themselves')
  })

  t.test('the end of an attempt: off the list when nothing is left, due after the backoff when retrying, at once for updates it did not carry', async (t) => {
    const store = make()
    const [done, retrying, busy] = [update(), update(), update()]
    for (const d of [done, retrying, busy]) await store.accept(d, 100)
    const claims = new Map((await store.claim(LEASE, 10)).map((c) => [c.conversationId, c]))
    const later = update(busy.conversationId)
    await store.accept(later, 100)
    t.same(await store.claim(LEASE, 10), [], 'an update to a claimed conversation waits for the attempt under way')
    const soon = update()
    await store.accept(soon, 100)
    const [soonClaim] = await store.claim(LEASE, 10)
    await store.finish(claims.get(done.conversationId)!, [written(done)], now + 5000)
    await store.finish(claims.get(retrying.conversationId)!, [{ ...retrying, state: 'retrying', attempts: 1 }], now + 5000)
    await store.finish(claims.get(busy.conversationId)!, [{ ...busy, state: 'retrying', attempts: 1 }], now + 5000)
    await store.finish(soonClaim!, [{ ...soon, state: 'retrying', attempts: 1 }], now)
    t.same(ids(await store.claim(LEASE, 10)), [busy.conversationId, soon.conversationId].sort(),
      'the one with an update the attempt did not carry: at once; a retrying one after its backoff (here none); the written one never')
  })

  t.test('a claim that lapsed ends nothing: the replica that took the conversation over keeps it', async (t) => {
    const store = make()
    const d = update()
    await store.accept(d, 100)
    const [slow] = await store.claim(0, 1)
    const [taken] = await store.claim(LEASE, 1)
    t.equal(taken?.conversationId, d.conversationId, 'taken over once the first lease ended')
    await store.finish(slow!, [{ ...d, state: 'retrying', attempts: 1 }], now)
    t.same(await store.claim(LEASE, 1), [], 'still claimed by the other')
    await store.finish(taken!, [written(d)], now)
    // Off the list: a new update makes it due at once (one still claimed would wait for the lease).
    await store.accept(update(d.conversationId), 100)
    t.equal((await store.claim(LEASE, 1))[0]?.conversationId, d.conversationId, 'and ended by it')
  })

  t.test('a settled update stays settled: an overlapping attempt can neither undo it nor deliver it again', async (t) => {
    const store = make()
    const d = update()
    await store.accept(d, 100)
    const [claim] = await store.claim(LEASE, 1)
    await store.finish(claim!, [written(d)], now)
    await store.finish(claim!, [{ ...d, state: 'retrying', attempts: 1, error: { code: 'UPSTREAM_ERROR', status: 502, detail: 'late' } }], now)
    t.match(await store.get(d.id), { state: 'written' }, 'the late outcome of the other attempt is ignored')
    t.same(await store.pending(d.conversationId), [])
  })

  // ioredis sends again a command left unanswered when its connection dropped: each step below
  // is sent twice with the same arguments (the clock stands still), the second after the first
  // took effect and the state moved on.
  t.test('sent again: an intake finds its update stored and changes nothing, though it was delivered since', async (t) => {
    const store = make()
    const d = update()
    t.equal(await store.accept(d, 100), true)
    const [claim] = await store.claim(LEASE, 1)
    t.same(await store.claim(LEASE, 1), [], 'a claim sent again takes nothing the first took: late at worst (its lease), never twice')
    await store.finish(claim!, [written(d)], now)
    t.equal(await store.accept(d, 100), true, 'answered as the first time')
    t.match(await store.get(d.id), { state: 'written', changes: { email: '', tier: '' } }, 'still written, its values still dropped')
    t.same(await store.pending(d.conversationId), [], 'not to be written again')
    t.same(await store.claim(0, 10), [], 'nor due')
    t.equal((await store.backlog()).count, 0)
  })

  t.test('sent again: the outcome of an earlier attempt neither undoes a later one nor moves the due list', async (t) => {
    const store = make()
    const d = update()
    await store.accept(d, 100)
    const [first] = await store.claim(LEASE, 1)
    const once = { ...d, state: 'retrying' as const, attempts: 1, error: { code: 'UPSTREAM_ERROR' as const, status: 502, detail: 'first' } }
    await store.finish(first!, [once], now) // due again at once
    const [second] = await store.claim(LEASE, 1)
    const twice = { ...d, state: 'retrying' as const, attempts: 2, error: { code: 'UPSTREAM_ERROR' as const, status: 502, detail: 'second' } }
    await store.finish(second!, [twice], now + 60_000)
    await store.finish(first!, [once], now)
    t.match(await store.get(d.id), { attempts: 2, error: { detail: 'second' } }, 'the later attempt\'s record stands')
    t.same(await store.claim(LEASE, 1), [], 'still due after the later attempt\'s backoff, not at once')
  })

  t.test('past the bound, nothing is stored', async (t) => {
    const store = make()
    await store.accept(update(), 1)
    const d = update()
    t.equal(await store.accept(d, 1), 'backlog')
    t.equal(await store.get(d.id), undefined)
    t.same(await store.pending(d.conversationId), [])
    t.equal((await store.backlog()).count, 1)
    t.same(ids(await store.claim(LEASE, 10)).includes(d.conversationId), false, 'nor due')
  })

  t.test('past a caller\'s share, its updates are refused while another caller\'s are stored, and settling frees the share (issue 33)', async (t) => {
    const store = make()
    const mine = [update(), update()]
    for (const d of mine) t.equal(await store.accept(d, 100, 2), true)
    const over = update()
    t.equal(await store.accept(over, 100, 2), 'share', 'a third of the flooding caller\'s: refused')
    t.equal(await store.get(over.id), undefined, 'and not stored')
    const theirs = { ...update(), caller: 'flow' }
    t.equal(await store.accept(theirs, 100, 2), true, 'another caller\'s: stored')
    t.equal(await store.accept(mine[0]!, 100, 2), true, 'the same update sent again (a lost answer) is not a new one')
    const [claim] = (await store.claim(LEASE, 10)).filter((c) => c.conversationId === mine[0]!.conversationId)
    await store.finish(claim!, [written(mine[0]!)], now)
    t.equal(await store.accept(update(), 100, 2), true, 'once one settles, there is room again')
    t.equal((await store.backlog()).count, 3)
  })
}

/** Which failed updates were sent again (POST /updates/{id}/retry): once each, whichever replica is asked. */
async function ledgerContract (t: Test, make: () => ResendLedger) {
  t.test('the resend ledger: a failed update is resent once; a second call learns the resend, or that one is under way', async (t) => {
    const ledger = make()
    t.ok('mark' in await ledger.claim('u1'), 'the first call may resend it')
    t.same(await ledger.claim('u1'), { resentAs: '' }, 'a second, meanwhile: under way')
    await ledger.done('u1', 'u2')
    t.same(await ledger.claim('u1'), { resentAs: 'u2' }, 'after: the resend it made')
    const v1 = await ledger.claim('v1')
    t.ok('mark' in v1)
    await ledger.release('v1', (v1 as { mark: string }).mark)
    t.ok('mark' in await ledger.claim('v1'), 'a resend that failed is released: it may be tried again')
  })
}

t.test('memory store', async (t) => {
  await contract(t, () => new MemoryDeliveryStore({ clock }))
  await ledgerContract(t, () => new MemoryResendLedger(clock))
})

t.test('Redis store', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  await contract(t, () => new RedisDeliveryStore(client, { prefix: `test:${crypto.randomUUID()}:`, maxAgeMs: 600_000, clock }))
  await ledgerContract(t, () => new RedisResendLedger(client, `test:${crypto.randomUUID()}:`))

  t.test('the resend ledger: a claim ioredis sends again finds its own mark, not one "under way" for the day', async (t) => {
    const prefix = `test:${crypto.randomUUID()}:`
    const ledger = new RedisResendLedger(resending(client, ['pdgLockTake', 'get']), prefix)
    t.ok('mark' in await ledger.claim('u1'), 'the call may resend it')
    t.same(await new RedisResendLedger(client, prefix).claim('u1'), { resentAs: '' }, 'another call meanwhile: under way')
  })

  t.test('the resend ledger: a release ioredis sends again after another call claimed the update leaves that claim alone', async (t) => {
    const prefix = `test:${crypto.randomUUID()}:`
    const other = new RedisResendLedger(client, prefix)
    let claimed: object = { not: 'asked' }
    const ledger = new RedisResendLedger(resending(client, ['pdgLockKeep'], async () => { claimed = await other.claim('u1') }), prefix)
    const mine = await ledger.claim('u1')
    t.ok('mark' in mine)
    await ledger.release('u1', (mine as { mark: string }).mark) // its resend was refused; the other call claims the update between the two sendings
    t.ok('mark' in claimed, 'the other call claimed it, once freed')
    t.same(await new RedisResendLedger(client, prefix).claim('u1'), { resentAs: '' }, 'and still holds it: under way')
  })

  const redisNow = async () => {
    const [s, us] = await client.time()
    return Number(s) * 1000 + Math.floor(Number(us) / 1000)
  }

  t.test("the due list is on Redis's clock: replicas whose clocks are far apart agree when a conversation is due", async (t) => {
    const prefix = `test:${crypto.randomUUID()}:`
    const behind = new RedisDeliveryStore(client, { prefix, maxAgeMs: 600_000, clock: new FakeClock(now) })
    const ahead = new RedisDeliveryStore(client, { prefix, maxAgeMs: 600_000, clock: new FakeClock(now + 3_600_000) })
    const d = update()
    await behind.accept(d, 100)
    const [claim] = await ahead.claim(LEASE, 1)
    t.equal(claim?.conversationId, d.conversationId, 'due at once for the replica an hour ahead too')
    t.same(await behind.claim(LEASE, 1), [], 'and held for the one behind')
    const before = await redisNow()
    await ahead.finish(claim!, [{ ...d, state: 'retrying', attempts: 1 }], now + 3_600_000 + 5000)
    const after = await redisNow()
    const at = Number(await client.zscore(`{${prefix}async}:due`, d.conversationId))
    t.ok(at >= before + 5000 && at <= after + 5000, `due again 5 s after the attempt ended on Redis's clock (${at - before} ms)`)
  })

  t.test('a claim is held until a lease counted from before it was sent, however late its answer', async (t) => {
    const fake = new FakeClock(now)
    // Redis answers; the answer reaches the replica 3 s later.
    const late = intercepting(client, ['pdgClaimDue'], async (send) => {
      const answer = await send()
      await fake.advance(3000)
      return answer
    })
    const store = new RedisDeliveryStore(late, { prefix: `test:${crypto.randomUUID()}:`, maxAgeMs: 600_000, clock: fake })
    await store.accept(update(), 100)
    const sent = fake.now()
    const [claim] = await store.claim(LEASE, 1)
    t.ok(fake.now() >= sent + 3000, 'the answer came late')
    t.equal(claim?.until, sent + LEASE, 'until: from when the claim was sent')
  })
})
