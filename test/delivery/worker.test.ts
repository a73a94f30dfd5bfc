import t, { type Test } from 'tap'
import { ApiError } from '../../src/errors.js'
import { MemoryDeliveryStore } from '../../src/delivery/memory.js'
import type { Delivery, DeliveryStore } from '../../src/delivery/store.js'
import { Deliverer, Scheduler, type DelivererOptions } from '../../src/delivery/worker.js'
import type { Updates } from '../../src/updates/plugin.js'
import type { Target, Update } from '../../src/updates/ports.js'

/** The write pipeline, answering from a script; `hold` keeps a submission waiting until released. */
function pipeline (answers: Array<ApiError | 'ok'>) {
  const seen: Array<Update & { target: Target; conversationId: string }> = []
  let hold: Promise<void> | undefined
  const updates = {
    async submit (conversationId: string, target: Target, update: Update) {
      seen.push({ ...update, target, conversationId })
      await hold
      const next = answers.shift() ?? 'ok'
      if (next !== 'ok') throw next
      return { participantId: 'participantId' in target ? target.participantId : 'p-1', attributes: update.changes, coalesced: 1, attempts: 1 }
    },
  } as unknown as Updates
  return { updates, seen, holdUntil: (p: Promise<void> | undefined) => (hold = p) }
}

/** Polls `check` until it holds (a state, not a time, is what the test waits for). */
async function until (check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

/** `pollMs`: also how often the attempt limit follows the event loop's load; a long one keeps it at `concurrency`. */
function setup (t: Test, updates: Updates,
  opts: Partial<DelivererOptions> = {}, concurrency = 10, store: DeliveryStore = new MemoryDeliveryStore(), pollMs = 10) {
  const deliverer = new Deliverer(updates, store, { maxAgeMs: 10_000, backoff: { baseMs: 10 }, ...opts })
  const errors: unknown[] = []
  const scheduler = new Scheduler(store, deliverer, { concurrency, pollMs, onError: (err) => errors.push(err) })
  t.teardown(async () => {
    await scheduler.close()
  })
  /** Accepts an update, as the intake does. */
  const accept = async (d: Delivery) => {
    await store.accept(d, 100)
    scheduler.wake()
  }
  return { store, scheduler, deliverer, accept, errors }
}

let n = 0
const fresh = (changes: Delivery['changes'] = { k: 'v' }, target: Target = { purposes: ['customer'] }, conversationId = 'c-1'): Delivery =>
  ({ id: `u-${++n}`, caller: 'crm', state: 'queued', conversationId, target, changes, seq: n, attempts: 0, acceptedAt: Date.now() })

t.test('passing failures are retried with backoff at bulk priority until written', async (t) => {
  const { updates, seen } = pipeline([new ApiError('UPSTREAM_ERROR', '502'), new ApiError('RATE_BUDGET_EXHAUSTED', 'later', { retryAfter: 0 }), 'ok'])
  const retried: string[] = []
  const { store, accept } = setup(t, updates, { onOutcome: (d) => d.state === 'retrying' && retried.push(d.error!.code) })
  const d = fresh()
  await accept(d)
  await until(async () => (await store.get(d.id))?.state === 'retrying')
  t.equal((await store.backlog()).count, 1)
  await until(async () => (await store.get(d.id))?.state === 'written')
  const final = await store.get(d.id)
  t.match(final, { state: 'written', participantId: 'p-1', attempts: 3 })
  t.equal(final?.error, undefined)
  t.same(retried, ['UPSTREAM_ERROR', 'RATE_BUDGET_EXHAUSTED'])
  t.ok(seen.every((u) => u.priority === 'bulk'), 'bulk priority, behind live flows')
  t.equal((await store.backlog()).count, 0)
})

t.test("a conversation's waiting updates go out in one write per participant, the later accepted value per key", async (t) => {
  const { updates, seen } = pipeline([])
  const store = new MemoryDeliveryStore()
  const deliverer = new Deliverer(updates, store, { maxAgeMs: 10_000 })
  const older = fresh({ shared: 'old', own: 'x' }, { participantId: 'p-1' })
  const other = fresh({ shared: 'other' }, { participantId: 'p-2' })
  const newer = fresh({ shared: 'new' }, { participantId: 'p-1' })
  for (const d of [older, other, newer]) await store.accept(d, 10)
  const [claim] = await store.claim(Date.now(), 25_000, 1)
  await deliverer.deliver(claim!)
  t.same(seen.map((u) => [u.target, u.changes, u.seqs]), [
    [{ participantId: 'p-1' }, { shared: 'new', own: 'x' }, { shared: newer.seq, own: older.seq }],
    [{ participantId: 'p-2' }, { shared: 'other' }, { shared: other.seq }],
  ], 'each key carries the sequence of the update it came from, for the order check under the lock')
  for (const d of [older, other, newer]) t.match(await store.get(d.id), { state: 'written', attempts: 1 })
})

t.test('updates accepted while their conversation is being attempted get the next attempt, right after', async (t) => {
  const { updates, seen, holdUntil } = pipeline([])
  const { store, accept } = setup(t, updates)
  let release!: () => void
  holdUntil(new Promise((resolve) => (release = resolve)))
  const first = fresh({ a: '1' })
  await accept(first)
  await until(() => seen.length === 1)
  const second = fresh({ b: '2' })
  await accept(second)
  const third = fresh({ c: '3' })
  await accept(third)
  t.equal(seen.length, 1, 'one attempt at a time per conversation')
  release()
  await until(async () => (await store.backlog()).count === 0)
  t.same(seen.map((u) => u.changes), [{ a: '1' }, { b: '2', c: '3' }], 'none lost; those that came meanwhile in one write')
  t.equal((await store.get(third.id))?.state, 'written')
})

t.test('a replica attempts at most `concurrency` conversations at once; the rest wait their turn, folding what comes meanwhile', async (t) => {
  const { updates, seen, holdUntil } = pipeline([])
  let release!: () => void
  holdUntil(new Promise((resolve) => (release = resolve)))
  const { store, accept } = setup(t, updates, {}, 2, undefined, 60_000)
  for (const c of ['c-1', 'c-2', 'c-3', 'c-4']) await accept(fresh({ x: '1' }, undefined, c))
  await until(() => seen.length === 2)
  await accept(fresh({ x: '2' }, undefined, 'c-4'))
  t.equal(seen.length, 2, 'two at once')
  holdUntil(undefined)
  release()
  await until(async () => (await store.backlog()).count === 0)
  t.same(seen.filter((u) => u.conversationId === 'c-4').map((u) => u.changes), [{ x: '2' }], "c-4's two updates in one write, the later value")
})

t.test('a final failure settles failed at once; close() stops further attempts', async (t) => {
  const { updates } = pipeline([new ApiError('UPSTREAM_REJECTED', 'bad value'), new ApiError('UPSTREAM_ERROR', '502')])
  const { store, scheduler, accept } = setup(t, updates, { backoff: { baseMs: 60_000 } })
  const d = fresh()
  await accept(d)
  await until(async () => (await store.get(d.id))?.state === 'failed')
  t.match(await store.get(d.id), { state: 'failed', attempts: 1, error: { code: 'UPSTREAM_REJECTED', status: 422 } })
  const e = fresh()
  await accept(e)
  await until(async () => (await store.get(e.id))?.state === 'retrying')
  await scheduler.close()
  t.equal((await store.get(e.id))?.attempts, 1, 'not tried again after close')
})

t.test('past its maximum age an update settles DELIVERY_EXPIRED; a younger one of the conversation is still written', async (t) => {
  const { updates, seen } = pipeline([])
  const { store, accept } = setup(t, updates)
  const old = { ...fresh({ a: 'old' }), acceptedAt: Date.now() - 10_001 }
  const young = fresh({ b: 'young' })
  for (const d of [old, young]) await accept(d)
  await until(async () => (await store.backlog()).count === 0)
  t.match(await store.get(old.id), { state: 'failed', error: { code: 'DELIVERY_EXPIRED' } })
  t.equal((await store.get(young.id))?.state, 'written')
  t.same(seen.map((u) => u.changes), [{ b: 'young' }], 'the expired value is never written')
})

t.test('an unexpected error is final as INTERNAL_ERROR', async (t) => {
  const updates = { submit: async () => { throw new TypeError('bug') } } as unknown as Updates
  const { store, accept } = setup(t, updates)
  const d = fresh()
  await accept(d)
  await until(async () => (await store.get(d.id))?.state === 'failed')
  t.match(await store.get(d.id), { state: 'failed', error: { code: 'INTERNAL_ERROR' } })
})

t.test('a store that fails is reported, not swallowed, and what is due is delivered once it answers again', async (t) => {
  const { updates, seen } = pipeline([])
  let down = true
  class Flaky extends MemoryDeliveryStore {
    override claim (...args: Parameters<DeliveryStore['claim']>) {
      return down ? Promise.reject(new Error('ECONNREFUSED')) : super.claim(...args)
    }
  }
  const { accept, errors } = setup(t, updates, {}, 10, new Flaky())
  await accept(fresh())
  await until(() => errors.length > 0)
  t.match(errors[0], { message: 'ECONNREFUSED' }, 'the failure reaches the log')
  down = false
  await until(() => seen.length === 1)
  t.equal(seen.length, 1, 'delivered at a later poll')
})
