import t from 'tap'
import { RateBudget } from '../../src/updates/budget.ts'
import { MemoryOrder, type Sequences } from '../../src/coordination/order.ts'
import type { Upstream } from '../../src/updates/ports.ts'
import { UpdateQueue } from '../../src/updates/queue.ts'
import { RetryPolicy } from '../../src/updates/retry.ts'
import { FakeClock } from '../helpers/clock.ts'
import type { Attributes } from '../../src/domain.ts'

/** An order store (Redis, in production) whose first `failures` records fail, as on a dropped connection. */
class FlakyOrder extends MemoryOrder {
  failures: number
  constructor (failures: number) {
    super()
    this.failures = failures
  }

  override async written (conversationId: string, participantId: string, keys: string[], seqs: Sequences): Promise<void> {
    if (this.failures-- > 0) throw new Error('Connection is closed.')
    return super.written(conversationId, participantId, keys, seqs)
  }
}

function setup (order: FlakyOrder) {
  const genesys = new Map<string, Attributes>()
  const upstream: Upstream = {
    getConversation: async (id) => ({ id, participants: [] }),
    patchParticipantAttributes: async (_c, p, attributes) => {
      genesys.set(p, { ...genesys.get(p), ...attributes })
    },
  }
  const unordered: unknown[] = []
  const clock = new FakeClock()
  const q = new UpdateQueue(upstream, {
    clock,
    mode: 'patch',
    order,
    policy: new RetryPolicy({ conflictRetries: 0, clock }),
    budget: new RateBudget({ requests: 1_000_000, windowMs: 60_000, clock }),
    maxPerConversation: 100,
    maxTotal: 100,
    unknownOutcomePause: async () => {},
    onUnordered: (_c, err) => unordered.push(err),
  })
  /**
   * An asynchronous update's delivery: its value carries its place in the order of acceptance.
   * The clock is stepped until it is answered: a failed record is tried again after a backoff.
   */
  const deliver = async (value: string, seq: number) => {
    const answered = { now: false }
    const written = q.submit('c', { participantId: 'p' }, { changes: { k: value }, seqs: { k: seq }, deadline: clock.now() + 10_000, priority: 'bulk' })
    written.then(() => (answered.now = true), () => (answered.now = true))
    for (let i = 0; i < 100 && !answered.now; i++) await clock.advance(10)
    return written
  }
  return { genesys, unordered, deliver }
}

t.test('a write whose order record meets a Redis failure still records it: a late, older value is not written over it (invariant 7, docs/architecture.md)', async (t) => {
  const { genesys, unordered, deliver } = setup(new FlakyOrder(1))
  await deliver('accepted last', 5)
  await deliver('accepted first, delivered late', 3)
  t.equal(genesys.get('p')?.k, 'accepted last')
  t.same(unordered, [], 'nothing to report')
})

t.test('a record that cannot be stored at all is reported, not dropped silently; the write itself is still answered as written', async (t) => {
  const { genesys, unordered, deliver } = setup(new FlakyOrder(100))
  const result = await deliver('v', 5)
  t.same(result.attributes, { k: 'v' })
  t.equal(genesys.get('p')?.k, 'v')
  t.match(unordered, [{ message: 'Connection is closed.' }])
})
