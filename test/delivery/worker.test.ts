import t from 'tap'
import { ApiError } from '../../src/errors.js'
import { MemoryDeliveryStore } from '../../src/delivery/memory.js'
import type { Delivery } from '../../src/delivery/store.js'
import { Deliverer, LocalScheduler, type DelivererOptions } from '../../src/delivery/worker.js'
import type { Updates } from '../../src/updates/plugin.js'
import type { Update } from '../../src/updates/ports.js'

function pipeline (answers: Array<ApiError | 'ok'>) {
  const seen: Update[] = []
  const updates = {
    async submit (_c: string, _t: unknown, update: Update) {
      seen.push(update)
      const next = answers.shift() ?? 'ok'
      if (next !== 'ok') throw next
      return { participantId: 'p-1', attributes: update.changes, coalesced: 1, attempts: 1 }
    },
  } as unknown as Updates
  return { updates, seen }
}

const worker = (updates: Updates, store: MemoryDeliveryStore, opts: DelivererOptions) => new LocalScheduler(new Deliverer(updates, store, opts))

const fresh = (): Delivery => ({ id: 'u-1', caller: 'crm', state: 'queued', conversationId: 'c-1', target: { purposes: ['customer'] }, changes: { k: 'v' }, seq: 1, attempts: 0, acceptedAt: Date.now() })

t.test('passing failures are retried with backoff at bulk priority until written', async (t) => {
  const { updates, seen } = pipeline([new ApiError('UPSTREAM_ERROR', '502'), new ApiError('RATE_BUDGET_EXHAUSTED', 'later', { retryAfter: 0 }), 'ok'])
  const store = new MemoryDeliveryStore()
  t.teardown(() => store.close())
  const retried: string[] = []
  let settle: () => void
  const written = new Promise<void>((resolve) => (settle = resolve))
  const w = worker(updates, store, {
    maxAgeMs: 10_000,
    baseDelayMs: 10,
    onRetry: (_d, code) => retried.push(code),
    onWritten: () => settle(),
  })
  const d = fresh()
  await store.add(d)
  await w.deliver(d)
  t.equal((await store.get('u-1'))?.state, 'retrying')
  t.equal(await store.backlog(), 1)
  await written
  const final = await store.get('u-1')
  t.match(final, { state: 'written', participantId: 'p-1', attempts: 3 })
  t.equal(final?.error, undefined)
  t.same(retried, ['UPSTREAM_ERROR', 'RATE_BUDGET_EXHAUSTED'])
  t.ok(seen.every((u) => u.priority === 'bulk'), 'bulk priority, behind live flows')
  t.equal(await store.backlog(), 0)
  await w.close()
})

t.test('a final failure settles failed at once; close() stops further attempts', async (t) => {
  const { updates } = pipeline([new ApiError('UPSTREAM_REJECTED', 'bad value'), new ApiError('UPSTREAM_ERROR', '502')])
  const store = new MemoryDeliveryStore()
  t.teardown(() => store.close())
  const w = worker(updates, store, { maxAgeMs: 10_000, baseDelayMs: 10 })
  const d = fresh()
  await w.deliver(d)
  t.match(await store.get('u-1'), { state: 'failed', attempts: 1, error: { code: 'UPSTREAM_REJECTED', status: 422 } })
  const e: Delivery = { ...fresh(), id: 'u-2' }
  await w.deliver(e)
  t.equal((await store.get('u-2'))?.state, 'retrying')
  await w.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await store.get('u-2'))?.attempts, 1, 'not tried again after close')
})

t.test('an unexpected error is final as INTERNAL_ERROR', async (t) => {
  const updates = { submit: async () => { throw new TypeError('bug') } } as unknown as Updates
  const store = new MemoryDeliveryStore()
  t.teardown(() => store.close())
  const w = worker(updates, store, { maxAgeMs: 10_000 })
  await w.deliver(fresh())
  t.match(await store.get('u-1'), { state: 'failed', error: { code: 'INTERNAL_ERROR' } })
})
