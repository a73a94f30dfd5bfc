import t from 'tap'
import type { Attributes } from '../../src/attributes/body.js'
import { ApiError } from '../../src/errors.js'
import type { Conversation } from '../../src/genesys/client.js'
import { UpdateQueue, type Upstream } from '../../src/updates/queue.js'

/** An in-memory Genesys with a gate on each call, so a test decides when each one finishes. */
function fakeUpstream() {
  const state = new Map<string, Attributes>()
  const log: string[] = []
  let inFlight = 0
  let peak = 0
  const gates: Array<() => void> = []
  const gate = () => new Promise<void>((r) => gates.push(r))
  const upstream: Upstream & { failNextRead?: ApiError } = {
    async getConversation(cid): Promise<Conversation> {
      log.push(`get ${cid}`)
      await gate()
      const err = upstream.failNextRead
      if (err) {
        upstream.failNextRead = undefined
        throw err
      }
      const participants = [...state].filter(([k]) => k.startsWith(cid)).map(([k, attributes]) => ({ id: k.split('/')[1]!, purpose: 'customer', attributes }))
      return { id: cid, participants }
    },
    async patchParticipantAttributes(cid, pid, attributes) {
      log.push(`patch ${cid}/${pid} ${Object.keys(attributes).join(',')}`)
      peak = Math.max(peak, ++inFlight)
      await gate()
      inFlight--
      state.set(`${cid}/${pid}`, { ...attributes })
    },
  }
  // Releases every call waiting now and any that start while we wait, until nothing is pending.
  const settle = async () => {
    for (let idle = 0; idle < 5; ) {
      await new Promise((r) => setImmediate(r))
      if (gates.length === 0) {
        idle++
      } else {
        for (const open of gates.splice(0)) open()
        idle = 0
      }
    }
  }
  return { upstream, state, log, settle, peak: () => peak }
}

t.test('updates that pile up are coalesced in arrival order, later value wins', async (t) => {
  const f = fakeUpstream()
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0 })
  const first = q.submit('c', 'p', { a: '1' })
  const second = q.submit('c', 'p', { a: '2', b: '2' })
  const third = q.submit('c', 'p', { b: '3', c: '3' })
  await f.settle()
  const [r1, r2, r3] = await Promise.all([first, second, third])
  t.same(r1.attributes, { a: '1' })
  t.equal(r1.coalesced, 1, 'the first went alone')
  t.same(r2.attributes, { a: '2', b: '3', c: '3' }, 'the two that waited were written together, later value winning')
  t.equal(r2.coalesced, 2)
  t.equal(r3, r2, 'both waiting callers get the same result')
  t.same(f.state.get('c/p'), { a: '2', b: '3', c: '3' })
  t.equal(q.size, 0)
})

t.test('two participants of one conversation never have writes in flight together', async (t) => {
  const f = fakeUpstream()
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0 })
  const done = Promise.all([q.submit('c', 'p1', { a: '1' }), q.submit('c', 'p2', { b: '1' }), q.submit('c', 'p1', { a: '2' })])
  await f.settle()
  await done
  t.equal(f.peak(), 1)
  t.same(f.state.get('c/p1'), { a: '2' })
  t.same(f.state.get('c/p2'), { b: '1' })
})

t.test('a failed read fails its own batch only, and the lane moves on', async (t) => {
  const f = fakeUpstream()
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0 })
  f.upstream.failNextRead = new ApiError('UPSTREAM_ERROR', 'boom')
  const failed = q.submit('c', 'p', { a: '1' })
  const later = q.submit('c', 'p', { b: '1' })
  failed.catch(() => {})
  await f.settle()
  await t.rejects(failed, { code: 'UPSTREAM_ERROR' })
  t.same((await later).attributes, { b: '1' }, 'the next batch was still written')
  t.notOk(f.state.get('c/p')?.a, 'the failed update was not written later either')
  t.equal(q.size, 0)
})

t.test('a 409 re-reads and merges what is there now', async (t) => {
  const f = fakeUpstream()
  let conflicts = 1
  const patch = f.upstream.patchParticipantAttributes
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    if (conflicts-- > 0) {
      f.state.set(`${cid}/${pid}`, { other: 'writer' })
      throw new ApiError('UPSTREAM_CONFLICT', 'changed')
    }
    return patch(cid, pid, attrs)
  }
  const q = new UpdateQueue(f.upstream, { conflictRetries: 2, conflictBackoff: async () => {} })
  const r = q.submit('c', 'p', { mine: '1' })
  await f.settle()
  t.same((await r).attributes, { other: 'writer', mine: '1' })
  t.equal((await r).attempts, 2)
  t.equal(f.log.filter((l) => l.startsWith('get')).length, 2, 'read again after the 409')
})
