import t, { type Test } from 'tap'
import { ApiError } from '../../src/errors.ts'
import { MemoryDeliveryStore } from '../../src/coordination/delivery-memory.ts'
import type { Delivery, DeliveryStore } from '../../src/coordination/delivery.ts'
import { Deliverer, Scheduler, type DelivererOptions } from '../../src/delivery/worker.ts'
import { folded, type Updates } from '../../src/updates/pipeline.ts'
import type { Update, Urgency, WriteResult } from '../../src/updates/ports.ts'
import { FakeClock } from '../helpers/clock.ts'
import { until } from '../helpers/until.ts'
import type { Attributes, Target } from '../../src/domain.ts'

/** The write pipeline, answering from a script; `hold` keeps a submission waiting until released. */
function pipeline (answers: Array<ApiError | 'ok'>) {
  const seen: Array<Update & { target: Target; conversationId: string }> = []
  let hold: Promise<void> | undefined
  const updates = {
    async submit (conversationId: string, target: Target, update: Update): Promise<WriteResult> {
      seen.push({ ...update, target, conversationId })
      await hold
      const next = answers.shift() ?? 'ok'
      if (next !== 'ok') throw next
      return { participantId: 'participantId' in target ? target.participantId : 'p-1', attributes: update.changes, coalesced: 1, attempts: 1 }
    },
    // Folded as the real pipeline folds them.
    deliver (conversationId: string, target: Target, accepted: Array<{ changes: Attributes; seq: number }>, urgency: Urgency) {
      return updates.submit(conversationId, target, { ...folded(accepted), ...urgency })
    },
  } as unknown as Updates
  return { updates, seen, holdUntil: (p: Promise<void> | undefined) => (hold = p) }
}

const START = Date.UTC(2026, 0, 1)
const POLL_MS = 100

/**
 * A scheduler on a fake clock: nothing polls, backs off or lapses until the test steps the clock.
 * `pollMs`: also how often the attempt limit follows the event loop's load.
 */
function setup (t: Test, updates: Updates, opts: Partial<DelivererOptions> = {}, concurrency = 10,
  make: (clock: FakeClock) => DeliveryStore = (clock) => new MemoryDeliveryStore({ clock })) {
  const clock = new FakeClock(START)
  const store = make(clock)
  const deliverer = new Deliverer(updates, store, { maxAgeMs: 10_000, clock, ...opts })
  const errors: unknown[] = []
  const scheduler = new Scheduler(store, deliverer, { concurrency, pollMs: POLL_MS, clock, onError: (err) => errors.push(err) })
  t.teardown(async () => {
    // Bounded on the fake clock too: an attempt left hanging is given up after close()'s wait.
    const closed = scheduler.close()
    await clock.advance(2000)
    await closed
  })
  /** Accepts an update, as the intake does. */
  const accept = async (d: Delivery) => {
    await store.accept(d, 100)
    scheduler.wake()
  }
  const state = (d: Delivery) => store.get(d.id)
  return { clock, store, scheduler, deliverer, accept, errors, state }
}

let n = 0
const fresh = (changes: Delivery['changes'] = { k: 'v' }, target: Target = { purposes: ['customer'] }, conversationId = 'c-1'): Delivery =>
  ({ id: `u-${++n}`, caller: 'crm', state: 'queued', conversationId, target, changes, seq: n, attempts: 0, acceptedAt: START })

t.test('passing failures are retried with backoff at bulk priority until written', async (t) => {
  const { updates, seen } = pipeline([new ApiError('UPSTREAM_ERROR', '502'), new ApiError('RATE_BUDGET_EXHAUSTED', 'later', { retryAfter: 0 }), 'ok'])
  const retried: string[] = []
  // No jitter: the pauses are exactly 1 s, then 2 s.
  const { clock, store, accept, state } = setup(t, updates, { backoff: { baseMs: 1000, random: () => 0.5 }, onOutcome: (d) => d.state === 'retrying' && retried.push(d.error!.code) })
  const d = fresh()
  await accept(d)
  await until(() => state(d), (s) => s?.state === 'retrying', { what: 'the first failure recorded' })
  t.equal((await store.backlog()).count, 1)
  await clock.advance(1000 - POLL_MS)
  t.equal(seen.length, 1, 'not tried again before its backoff, polls notwithstanding')
  await clock.advance(POLL_MS)
  await until(() => state(d), (s) => s?.attempts === 2 && s.state === 'retrying', { what: 'the second attempt, after 1 s' })
  await clock.advance(2000 - POLL_MS)
  t.equal(seen.length, 2, 'the pause doubles')
  await clock.advance(POLL_MS)
  const final = await until(() => state(d), (s) => s?.state === 'written', { what: 'written at the third attempt' })
  t.match(final, { state: 'written', participantId: 'p-1', attempts: 3 })
  t.equal(final?.error, undefined)
  t.same(retried, ['UPSTREAM_ERROR', 'RATE_BUDGET_EXHAUSTED'])
  t.ok(seen.every((u) => u.priority === 'bulk'), 'bulk priority, behind live flows')
  t.equal((await store.backlog()).count, 0)
})

t.test("an attempt's deadline and its claim's lease are counted from before the claim was sent, however late the store answers", async (t) => {
  const { updates, seen } = pipeline([])
  let claimedAt: number | undefined
  const claims: Array<{ until: number }> = []
  // A store slow to answer: 3 s for the claim, 2 s more for the pending updates.
  class Slow extends MemoryDeliveryStore {
    readonly #clock: FakeClock
    constructor (clock: FakeClock) {
      super({ clock })
      this.#clock = clock
    }

    override async claim (...args: Parameters<DeliveryStore['claim']>) {
      const sent = this.#clock.now()
      const answer = await super.claim(...args)
      if (answer.length > 0) {
        claimedAt ??= sent
        claims.push(...answer)
      }
      await this.#clock.advance(3000)
      return answer
    }

    override async pending (conversationId: string) {
      await this.#clock.advance(2000)
      return super.pending(conversationId)
    }
  }
  const { accept, state } = setup(t, updates, { maxAgeMs: 600_000 }, 10, (clock) => new Slow(clock))
  const d = fresh()
  await accept(d)
  await until(() => state(d), (s) => s?.state === 'written', { what: 'written' })
  t.equal(claims[0]?.until, claimedAt! + 25_000, 'the lease ends 25 s after the claim was sent, not after its answer came')
  t.equal(seen[0]?.deadline, claimedAt! + 20_000, 'the attempt must end 20 s after the claim was sent')
  t.ok(claims[0]!.until - seen[0]!.deadline >= 5000, 'a margin of 5 s between the longest attempt and the lease')
})

t.test("a conversation's waiting updates go out in one write per participant, the later accepted value per key", async (t) => {
  const { updates, seen } = pipeline([])
  const clock = new FakeClock(START)
  const store = new MemoryDeliveryStore({ clock })
  const deliverer = new Deliverer(updates, store, { maxAgeMs: 10_000, clock })
  const older = fresh({ shared: 'old', own: 'x' }, { participantId: 'p-1' })
  const other = fresh({ shared: 'other' }, { participantId: 'p-2' })
  const newer = fresh({ shared: 'new' }, { participantId: 'p-1' })
  for (const d of [older, other, newer]) await store.accept(d, 10)
  const [claim] = await store.claim(25_000, 1)
  await deliverer.deliver(claim!)
  t.same(seen.map((u) => [u.target, u.changes, u.seqs]), [
    [{ participantId: 'p-1' }, { shared: 'new', own: 'x' }, { shared: newer.seq, own: older.seq }],
    [{ participantId: 'p-2' }, { shared: 'other' }, { shared: other.seq }],
  ], 'each key carries the sequence of the update it came from, for the order check under the lock')
  for (const d of [older, other, newer]) t.match(await store.get(d.id), { state: 'written', attempts: 1 })
})

t.test('updates accepted while their conversation is being attempted get the next attempt, right after', async (t) => {
  const { updates, seen, holdUntil } = pipeline([])
  const { clock, store, accept, state } = setup(t, updates)
  let release!: () => void
  holdUntil(new Promise((resolve) => (release = resolve)))
  const first = fresh({ a: '1' })
  await accept(first)
  await until(() => seen.length, (n) => n === 1, { what: 'the first attempt under way' })
  const second = fresh({ b: '2' })
  await accept(second)
  const third = fresh({ c: '3' })
  await accept(third)
  await clock.advance(3 * POLL_MS) // polls, each a chance to start another
  t.equal(seen.length, 1, 'one attempt at a time per conversation')
  release()
  await until(() => store.backlog(), (b) => b.count === 0, { what: 'an empty backlog' })
  t.same(seen.map((u) => u.changes), [{ a: '1' }, { b: '2', c: '3' }], 'none lost; those that came meanwhile in one write, with no poll needed')
  t.equal((await state(third))?.state, 'written')
})

t.test('a replica attempts at most `concurrency` conversations at once; the rest wait their turn, folding what comes meanwhile', async (t) => {
  const { updates, seen, holdUntil } = pipeline([])
  let release!: () => void
  holdUntil(new Promise((resolve) => (release = resolve)))
  const { clock, store, accept } = setup(t, updates, {}, 2)
  for (const c of ['c-1', 'c-2', 'c-3', 'c-4']) await accept(fresh({ x: '1' }, undefined, c))
  await until(() => seen.length, (n) => n === 2, { what: 'two attempts under way' })
  await accept(fresh({ x: '2' }, undefined, 'c-4'))
  await clock.advance(3 * POLL_MS)
  t.equal(seen.length, 2, 'two at once, polls notwithstanding')
  holdUntil(undefined)
  release()
  await until(() => store.backlog(), (b) => b.count === 0, { what: 'an empty backlog' })
  t.same(seen.filter((u) => u.conversationId === 'c-4').map((u) => u.changes), [{ x: '2' }], "c-4's two updates in one write, the later value")
})

t.test('a final failure settles failed at once; close() stops further attempts', async (t) => {
  const { updates, seen } = pipeline([new ApiError('UPSTREAM_REJECTED', 'bad value'), new ApiError('UPSTREAM_ERROR', '502')])
  const { clock, store, scheduler, accept, state } = setup(t, updates, { backoff: { baseMs: 1000, random: () => 0.5 } })
  const d = fresh()
  await accept(d)
  await until(() => state(d), (s) => s?.state === 'failed', { what: 'failed' })
  t.match(await state(d), { state: 'failed', attempts: 1, error: { code: 'UPSTREAM_REJECTED', status: 422 } })
  const e = fresh()
  await accept(e)
  await until(() => state(e), (s) => s?.state === 'retrying', { what: 'retrying' })
  await scheduler.close()
  // Far past the backoff and many polls: a scheduler still running would have tried again.
  await clock.advance(60_000)
  t.equal(seen.length, 2, 'not tried again after close')
  t.same((await store.claim(25_000, 10)).map((c) => c.conversationId), [e.conversationId], 'left due, unclaimed, for another replica')
})

t.test('past its maximum age an update settles DELIVERY_EXPIRED; a younger one of the conversation is still written', async (t) => {
  const { updates, seen } = pipeline([])
  const { store, accept, state } = setup(t, updates)
  const old = { ...fresh({ a: 'old' }), acceptedAt: START - 10_001 }
  const young = fresh({ b: 'young' })
  for (const d of [old, young]) await accept(d)
  await until(() => store.backlog(), (b) => b.count === 0, { what: 'an empty backlog' })
  t.match(await state(old), { state: 'failed', error: { code: 'DELIVERY_EXPIRED' } })
  t.equal((await state(young))?.state, 'written')
  t.same(seen.map((u) => u.changes), [{ b: 'young' }], 'the expired value is never written')
})

t.test('an unexpected error is final as INTERNAL_ERROR', async (t) => {
  const updates = { deliver: async () => { throw new TypeError('bug') } } as unknown as Updates
  const { accept, state } = setup(t, updates)
  const d = fresh()
  await accept(d)
  const final = await until(() => state(d), (s) => s?.state === 'failed', { what: 'failed' })
  t.match(final, { state: 'failed', error: { code: 'INTERNAL_ERROR' } })
})

t.test('a store that fails is reported, not swallowed, and what is due is delivered at the next poll once it answers again', async (t) => {
  const { updates, seen } = pipeline([])
  let down = true
  class Flaky extends MemoryDeliveryStore {
    override claim (...args: Parameters<DeliveryStore['claim']>) {
      return down ? Promise.reject(new Error('ECONNREFUSED')) : super.claim(...args)
    }
  }
  const { clock, accept, errors } = setup(t, updates, {}, 10, (clock) => new Flaky({ clock }))
  await accept(fresh())
  await until(() => errors.length, (n) => n > 0, { what: 'the failure reported' })
  t.match(errors[0], { message: 'ECONNREFUSED' }, 'the failure reaches the log')
  down = false
  t.equal(seen.length, 0, 'nothing looks again before the poll')
  await clock.advance(POLL_MS)
  await until(() => seen.length, (n) => n === 1, { what: 'the delivery at the next poll' })
})
