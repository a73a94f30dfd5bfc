import t, { type Test } from 'tap'
import { ApiError } from '../../src/errors.js'
import { MemoryDeliveryStore } from '../../src/delivery/memory.js'
import { Pacer } from '../../src/delivery/pace.js'
import type { Delivery } from '../../src/delivery/store.js'
import { Deliverer, LocalScheduler, type DelivererOptions } from '../../src/delivery/worker.js'
import type { Updates } from '../../src/updates/plugin.js'
import type { Target, Update } from '../../src/updates/ports.js'

/** The write pipeline, answering from a script; `hold` keeps a submission waiting until released. */
function pipeline (answers: Array<ApiError | 'ok'>) {
  const seen: Array<Update & { target: Target }> = []
  let hold: Promise<void> | undefined
  const updates = {
    async submit (_c: string, target: Target, update: Update) {
      seen.push({ ...update, target })
      await hold
      const next = answers.shift() ?? 'ok'
      if (next !== 'ok') throw next
      return { participantId: 'participantId' in target ? target.participantId : 'p-1', attributes: update.changes, coalesced: 1, attempts: 1 }
    },
  } as unknown as Updates
  return { updates, seen, holdUntil: (p: Promise<void>) => (hold = p) }
}

function setup (t: Test, updates: Updates, opts: Partial<DelivererOptions> = {}) {
  const store = new MemoryDeliveryStore()
  const scheduler = new LocalScheduler(new Deliverer(updates, store, { maxAgeMs: 10_000, baseDelayMs: 10, ...opts }))
  t.teardown(async () => {
    await scheduler.close()
    store.close()
  })
  return { store, scheduler }
}

let n = 0
const fresh = (changes: Delivery['changes'] = { k: 'v' }, target: Target = { purposes: ['customer'] }, conversationId = 'c-1'): Delivery =>
  ({ id: `u-${++n}`, caller: 'crm', state: 'queued', conversationId, target, changes, seq: n, attempts: 0, acceptedAt: Date.now() })

t.test('passing failures are retried with backoff at bulk priority until written', async (t) => {
  const { updates, seen } = pipeline([new ApiError('UPSTREAM_ERROR', '502'), new ApiError('RATE_BUDGET_EXHAUSTED', 'later', { retryAfter: 0 }), 'ok'])
  let settle: () => void
  const written = new Promise<void>((resolve) => (settle = resolve))
  const retried: string[] = []
  const { store, scheduler } = setup(t, updates, { onRetry: (_d, code) => retried.push(code), onWritten: () => settle() })
  const d = fresh()
  await store.add(d, 10)
  await scheduler.deliver('c-1')
  t.equal((await store.get(d.id))?.state, 'retrying')
  t.equal(await store.backlog(), 1)
  await written
  const final = await store.get(d.id)
  t.match(final, { state: 'written', participantId: 'p-1', attempts: 3 })
  t.equal(final?.error, undefined)
  t.same(retried, ['UPSTREAM_ERROR', 'RATE_BUDGET_EXHAUSTED'])
  t.ok(seen.every((u) => u.priority === 'bulk'), 'bulk priority, behind live flows')
  t.equal(await store.backlog(), 0)
})

t.test("a conversation's waiting updates go out in one write per participant, the later accepted value per key", async (t) => {
  const { updates, seen } = pipeline([])
  const { store, scheduler } = setup(t, updates)
  const older = fresh({ shared: 'old', own: 'x' }, { participantId: 'p-1' })
  const other = fresh({ shared: 'other' }, { participantId: 'p-2' })
  const newer = fresh({ shared: 'new' }, { participantId: 'p-1' })
  for (const d of [older, other, newer]) await store.add(d, 10)
  await scheduler.deliver('c-1')
  t.same(seen.map((u) => [u.target, u.changes, u.seqs]), [
    [{ participantId: 'p-1' }, { shared: 'new', own: 'x' }, { shared: newer.seq, own: older.seq }],
    [{ participantId: 'p-2' }, { shared: 'other' }, { shared: other.seq }],
  ], 'each key carries the sequence of the update it came from, for the order check under the lock')
  for (const d of [older, other, newer]) t.match(await store.get(d.id), { state: 'written', attempts: 1 })
})

t.test('updates accepted while their conversation is being attempted get the next attempt, right after', async (t) => {
  const { updates, seen, holdUntil } = pipeline([])
  const { store, scheduler } = setup(t, updates)
  let release!: () => void
  holdUntil(new Promise((resolve) => (release = resolve)))
  const first = fresh({ a: '1' })
  await store.add(first, 10)
  const attempt = scheduler.deliver('c-1')
  await new Promise((resolve) => setImmediate(resolve))
  const second = fresh({ b: '2' })
  await store.add(second, 10)
  await scheduler.enqueue('c-1')
  release()
  await attempt
  for (let i = 0; i < 50 && (await store.backlog()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(seen.map((u) => u.changes), [{ a: '1' }, { b: '2' }], 'one attempt at a time per conversation, none lost')
  t.equal((await store.get(second.id))?.state, 'written')
})

/** A replica kept busy (its pacer lets one attempt start at a time), whose attempt for c-1 is held until `release`. */
async function busyWithOneHeld (t: Test) {
  const { updates, seen, holdUntil } = pipeline([])
  let now = 0
  const pacer = new Pacer({ max: 500, utilization: () => 1, clock: () => now })
  for (; pacer.limit > 1; now += 100);
  const { store, scheduler } = setup(t, updates, { pacer })
  let release!: () => void
  holdUntil(new Promise((resolve) => (release = resolve)))
  await store.add(fresh({ a: '1' }), 10)
  return { seen, store, scheduler, pacer, release, first: scheduler.deliver('c-1') }
}

t.test('on a busy replica, updates that come while their attempt waits its turn go out with it, in one write', async (t) => {
  const { seen, store, scheduler, pacer, release, first } = await busyWithOneHeld(t)
  t.equal(pacer.limit, 1, 'busy: one attempt at a time')
  const x = fresh({ x: '1' }, undefined, 'c-2')
  await store.add(x, 10)
  const second = scheduler.deliver('c-2')
  await new Promise((resolve) => setImmediate(resolve))
  const later = [fresh({ y: '2' }, undefined, 'c-2'), fresh({ x: '3' }, undefined, 'c-2')]
  for (const d of later) {
    await store.add(d, 10)
    await scheduler.enqueue('c-2')
  }
  t.equal(seen.length, 1, 'c-2 waits while c-1 is attempted')
  release()
  await Promise.all([first, second])
  t.same(seen.map((u) => u.changes), [{ a: '1' }, { x: '3', y: '2' }], "c-2's three updates in one write, the later value of x")
  for (const d of [x, ...later]) t.match(await store.get(d.id), { state: 'written', attempts: 1 })
})

t.test('when the replica stops, an attempt still waiting its turn never starts: its updates stay queued', async (t) => {
  const { seen, store, scheduler, pacer, release, first } = await busyWithOneHeld(t)
  const waiting = fresh({ b: '1' }, undefined, 'c-2')
  await store.add(waiting, 10)
  const second = scheduler.deliver('c-2')
  pacer.close()
  await second
  release()
  await first
  t.same(seen.map((u) => u.changes), [{ a: '1' }], 'the running attempt finished; the waiting one never went')
  t.match(await store.get(waiting.id), { state: 'queued', attempts: 0 }, 'left for another replica')
})

t.test('a final failure settles failed at once; close() stops further attempts', async (t) => {
  const { updates } = pipeline([new ApiError('UPSTREAM_REJECTED', 'bad value'), new ApiError('UPSTREAM_ERROR', '502')])
  const { store, scheduler } = setup(t, updates)
  const d = fresh()
  await store.add(d, 10)
  await scheduler.deliver('c-1')
  t.match(await store.get(d.id), { state: 'failed', attempts: 1, error: { code: 'UPSTREAM_REJECTED', status: 422 } })
  const e = fresh()
  await store.add(e, 10)
  await scheduler.deliver('c-1')
  t.equal((await store.get(e.id))?.state, 'retrying')
  await scheduler.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await store.get(e.id))?.attempts, 1, 'not tried again after close')
})

t.test('past its maximum age an update settles DELIVERY_EXPIRED; a younger one of the conversation is still written', async (t) => {
  const { updates, seen } = pipeline([])
  const { store, scheduler } = setup(t, updates)
  const old = { ...fresh({ a: 'old' }), acceptedAt: Date.now() - 10_001 }
  const young = fresh({ b: 'young' })
  for (const d of [old, young]) await store.add(d, 10)
  await scheduler.deliver('c-1')
  t.match(await store.get(old.id), { state: 'failed', error: { code: 'DELIVERY_EXPIRED' } })
  t.equal((await store.get(young.id))?.state, 'written')
  t.same(seen.map((u) => u.changes), [{ b: 'young' }], 'the expired value is never written')
})

t.test('an unexpected error is final as INTERNAL_ERROR', async (t) => {
  const updates = { submit: async () => { throw new TypeError('bug') } } as unknown as Updates
  const { store, scheduler } = setup(t, updates)
  const d = fresh()
  await store.add(d, 10)
  await scheduler.deliver('c-1')
  t.match(await store.get(d.id), { state: 'failed', error: { code: 'INTERNAL_ERROR' } })
})
