import t from 'tap'
import { RateBudget } from '../../src/updates/budget.ts'
import type { Upstream } from '../../src/updates/ports.ts'
import { UpdateQueue } from '../../src/updates/queue.ts'
import { RetryPolicy } from '../../src/updates/retry.ts'
import { REREAD_AFTER_MS } from '../../src/updates/write.ts'
import { FakeClock } from '../helpers/clock.ts'
import type { Attributes } from '../../src/domain.ts'

// Merge mode writes the full map it read. When the PATCH has to wait after its read (a token to
// fetch, a 429's pause), someone else may write meanwhile: a map that waited is read again.

function setup (waitAfterRead: number) {
  const clock = new FakeClock()
  let genesys: Attributes = { before: '1' }
  const log: string[] = []
  const upstream: Upstream = {
    getConversation: async (id) => {
      log.push('get')
      return { id, participants: [{ id: 'p', purpose: 'customer', attributes: { ...genesys } }] }
    },
    patchParticipantAttributes: async (_c, _p, attributes) => {
      log.push('patch')
      genesys = { ...attributes } // Genesys replacing the map: the worst case for a stale one
    },
    // What happens between the read and the PATCH: the clock moves, and a flow writes.
    prepare: () => {
      // Asked once the read is in (the Writer's look before it judges the read's age).
      if (waitAfterRead === 0 || !log.includes('get')) return undefined
      const waited = clock.advance(waitAfterRead)
      genesys = { ...genesys, flow: 'set meanwhile' }
      waitAfterRead = 0
      return waited
    },
  }
  const q = new UpdateQueue(upstream, {
    mode: 'merge',
    clock,
    policy: new RetryPolicy({ conflictRetries: 0, clock }),
    budget: new RateBudget({ requests: 1_000_000, windowMs: 60_000, clock }),
    maxPerConversation: 10,
    maxTotal: 10,
    unknownOutcomePause: async () => {},
  })
  const write = () => q.submit('c', { participantId: 'p' }, { changes: { ours: 'x' }, deadline: clock.now() + 60_000, priority: 'live' })
  return { write, log, genesys: () => genesys }
}

t.test(`a PATCH that waited more than ${REREAD_AFTER_MS} ms after its read reads again, and keeps what was written meanwhile`, async (t) => {
  const s = setup(REREAD_AFTER_MS + 1)
  const result = await s.write()
  t.same(s.log, ['get', 'get', 'patch'])
  t.same(s.genesys(), { before: '1', flow: 'set meanwhile', ours: 'x' })
  t.same(result.attributes, { before: '1', flow: 'set meanwhile', ours: 'x' })
})

t.test('a PATCH sent right after its read does not read again', async (t) => {
  const s = setup(0)
  await s.write()
  t.same(s.log, ['get', 'patch'])
  t.same(s.genesys(), { before: '1', ours: 'x' })
})
