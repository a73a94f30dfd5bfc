import t from 'tap'
import type { Attributes } from '../../src/attributes/body.js'
import { ApiError } from '../../src/errors.js'
import type { Conversation } from '../../src/genesys/client.js'
import { UpdateQueue, type Upstream } from '../../src/updates/queue.js'

const noPause = async () => {}

/** An in-memory Genesys with a gate on each call, so a test decides when each one finishes. */
function fakeUpstream() {
  const state = new Map<string, Attributes>()
  const log: string[] = []
  let inFlight = 0
  let peak = 0
  const gates: Array<() => void> = []
  const gate = () => new Promise<void>((r) => gates.push(r))
  let reads = 0
  const upstream: Upstream & { failRead?: { nth: number; err: ApiError } } = {
    async getConversation(cid): Promise<Conversation> {
      log.push(`get ${cid}`)
      const nth = ++reads
      await gate()
      if (upstream.failRead?.nth === nth) throw upstream.failRead.err
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
  // Releases the calls waiting now.
  const settleOnce = async () => {
    await new Promise((r) => setImmediate(r))
    for (const open of gates.splice(0)) open()
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
  return { upstream, state, log, settle, settleOnce, peak: () => peak }
}

t.test('updates that pile up are coalesced in arrival order, later value wins', async (t) => {
  const f = fakeUpstream()
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0, unknownOutcomePause: noPause })
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
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0, unknownOutcomePause: noPause })
  const done = Promise.all([q.submit('c', 'p1', { a: '1' }), q.submit('c', 'p2', { b: '1' }), q.submit('c', 'p1', { a: '2' })])
  await f.settle()
  await done
  t.equal(f.peak(), 1)
  t.same(f.state.get('c/p1'), { a: '2' })
  t.same(f.state.get('c/p2'), { b: '1' })
})

t.test('a failed read fails every caller of its batch, and the lane moves on', async (t) => {
  const f = fakeUpstream()
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0, unknownOutcomePause: noPause })
  f.upstream.failRead = { nth: 2, err: new ApiError('UPSTREAM_ERROR', 'boom') }
  const first = q.submit('c', 'p', { a: '1' }) // alone, holds the lane
  const failed = [q.submit('c', 'p', { b: '1' }), q.submit('c', 'p', { c: '1' })] // coalesced, then failed
  for (const p of failed) p.catch(() => {})
  // Let the first write finish and the coalesced batch's read start before anything else arrives.
  for (let i = 0; i < 10; i++) await f.settleOnce()
  const later = q.submit('c', 'p', { d: '1' })
  await f.settle()
  await first
  for (const p of failed) await t.rejects(p, { code: 'UPSTREAM_ERROR' }, 'each coalesced caller hears of the failure')
  t.same((await later).attributes, { a: '1', d: '1' }, 'the next batch was still written')
  t.notOk(f.state.get('c/p')?.b, 'the failed update was not written later either')
  t.equal(q.size, 0)
})

t.test('after a write with an unknown outcome the conversation pauses before its next write', async (t) => {
  const f = fakeUpstream()
  let release!: () => void
  let paused = 0
  const pause = () => {
    paused++
    return new Promise<void>((r) => (release = r))
  }
  const patch = f.upstream.patchParticipantAttributes
  let lost = true
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    if (lost) {
      lost = false
      throw new ApiError('UPSTREAM_OUTCOME_UNKNOWN', 'timed out')
    }
    return patch(cid, pid, attrs)
  }
  const q = new UpdateQueue(f.upstream, { conflictRetries: 0, unknownOutcomePause: pause })
  const unknown = q.submit('c', 'p', { a: '1' })
  unknown.catch(() => {})
  await f.settle()
  await t.rejects(unknown, { code: 'UPSTREAM_OUTCOME_UNKNOWN' })
  t.equal(paused, 1, 'the lane is pausing')
  const next = q.submit('c', 'p', { b: '1' }) // arrives during the pause
  await f.settle()
  t.equal(f.log.filter((l) => l.startsWith('get')).length, 1, 'no read or write while paused')
  t.equal(q.size, 1, 'the lane is held, so newcomers queue behind it')
  release()
  await f.settle()
  t.same((await next).attributes, { b: '1' })
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
  const q = new UpdateQueue(f.upstream, { conflictRetries: 2, conflictBackoff: noPause, unknownOutcomePause: noPause })
  const r = q.submit('c', 'p', { mine: '1' })
  await f.settle()
  t.same((await r).attributes, { other: 'writer', mine: '1' })
  t.equal((await r).attempts, 2)
  t.equal(f.log.filter((l) => l.startsWith('get')).length, 2, 'read again after the 409')
})
