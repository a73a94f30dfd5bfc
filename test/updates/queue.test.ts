import t from 'tap'
import { ApiError } from '../../src/errors.ts'
import { RateBudget } from '../../src/updates/budget.ts'
import { UpstreamError, type UpstreamErrorInit } from '../../src/genesys/upstream-error.ts'
import type { Update, Upstream } from '../../src/updates/ports.ts'
import type { ConversationLock } from '../../src/coordination/lock-conversation.ts'
import { UpdateQueue, type QueueOptions } from '../../src/updates/queue.ts'
import { RetryPolicy } from '../../src/updates/retry.ts'
import { SEND_WINDOW_MS } from '../../src/updates/write.ts'
import { FakeClock } from '../helpers/clock.ts'
import { until } from '../helpers/until.ts'
import type { Attributes, Conversation } from '../../src/domain.ts'

// Every queue here runs on a FakeClock shared with its budget and retry policy: deadlines,
// backoff and windows pass when a test steps them, and a test waits for states, not for time.

const noPause = async () => {}

/** A failed PATCH as the Genesys client reports it. */
const failed = (message: string, init: Partial<UpstreamErrorInit>) => new UpstreamError(message, { operation: 'patchAttributes', kind: 'answer', sent: true, ...init })

/** The time every queue, budget and policy of this file goes by. */
const clock = new FakeClock()

/** No waiting of its own: retries at once, a budget that never runs short. */
const queueOptions = (conflictRetries = 0): QueueOptions => ({
  policy: new RetryPolicy({ conflictRetries, baseDelayMs: 0, clock }),
  budget: new RateBudget({ requests: 1_000_000, windowMs: 60_000, clock }),
  maxPerConversation: 1000,
  maxTotal: 10_000,
  unknownOutcomePause: noPause,
  clock,
})

function queue (upstream: Upstream, opts: Partial<QueueOptions> & { conflictRetries?: number } = {}) {
  return new UpdateQueue(upstream, { ...queueOptions(opts.conflictRetries), ...opts })
}

/** An update with a long deadline unless told otherwise. */
const u = (changes: Attributes, deadlineInMs = 60_000): Update => ({ changes, deadline: clock.now() + deadlineInMs, priority: 'live' })

/** An in-memory Genesys with a gate on each call, so a test decides when each one finishes. */
function fakeUpstream () {
  const state = new Map<string, Attributes>()
  const log: string[] = []
  let inFlight = 0
  let peak = 0
  const gates: Array<() => void> = []
  let open = false // true: every call answers at once
  const gate = () => (open ? Promise.resolve() : new Promise<void>((resolve) => gates.push(resolve)))
  let reads = 0
  const upstream: Upstream & { failRead?: { nth: number; err: ApiError } } = {
    async getConversation (cid): Promise<Conversation> {
      log.push(`get ${cid}`)
      const nth = ++reads
      await gate()
      if (upstream.failRead?.nth === nth) throw upstream.failRead.err
      const participants = [...state].filter(([k]) => k.startsWith(cid)).map(([k, attributes]) => ({ id: k.split('/')[1]!, purpose: 'customer', attributes }))
      return { id: cid, participants }
    },
    async patchParticipantAttributes (cid, pid, attributes) {
      log.push(`patch ${cid}/${pid} ${Object.keys(attributes).join(',')}`)
      peak = Math.max(peak, ++inFlight)
      await gate()
      inFlight--
      state.set(`${cid}/${pid}`, { ...attributes })
    },
  }
  // Lets what is under way run: promises settle, and timers due now (a retry at once) fire. The
  // fake clock does not move.
  const tick = async () => {
    await new Promise((resolve) => setImmediate(resolve))
    await clock.advance(0)
  }
  const settleOnce = async () => {
    await tick()
    for (const open of gates.splice(0)) open()
  }
  // Releases every call waiting now and any that start while we wait, until nothing is pending.
  const settle = async () => {
    for (let idle = 0; idle < 5;) {
      await tick()
      if (gates.length === 0) {
        idle++
      } else {
        for (const open of gates.splice(0)) open()
        idle = 0
      }
    }
  }
  return {
    upstream,
    state,
    log,
    settle,
    settleOnce,
    /** Calls held at their gate now. */
    held: () => gates.length,
    peak: () => peak,
    get open () {
      return open
    },
    set open (v: boolean) {
      open = v
    },
  }
}

t.test('updates that pile up are coalesced in arrival order, later value wins', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream, { conflictRetries: 0 })
  const first = q.submit('c', { participantId: 'p' }, u({ a: '1' }))
  const second = q.submit('c', { participantId: 'p' }, u({ a: '2', b: '2' }))
  const third = q.submit('c', { participantId: 'p' }, u({ b: '3', c: '3' }))
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
  const q = queue(f.upstream, { conflictRetries: 0 })
  const done = Promise.all([q.submit('c', { participantId: 'p1' }, u({ a: '1' })), q.submit('c', { participantId: 'p2' }, u({ b: '1' })), q.submit('c', { participantId: 'p1' }, u({ a: '2' }))])
  await f.settle()
  await done
  t.equal(f.peak(), 1)
  t.same(f.state.get('c/p1'), { a: '2' })
  t.same(f.state.get('c/p2'), { b: '1' })
})

t.test('a failed read fails every caller of its batch, and the lane moves on', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream, { conflictRetries: 0 })
  f.upstream.failRead = { nth: 2, err: new ApiError('UPSTREAM_ERROR', 'boom') }
  const first = q.submit('c', { participantId: 'p' }, u({ a: '1' })) // alone, holds the lane
  const failed = [q.submit('c', { participantId: 'p' }, u({ b: '1' })), q.submit('c', { participantId: 'p' }, u({ c: '1' }))] // coalesced, then failed
  for (const p of failed) p.catch(() => {})
  // Let the first write finish and the coalesced batch's read start before anything else arrives.
  for (let i = 0; i < 10; i++) await f.settleOnce()
  const later = q.submit('c', { participantId: 'p' }, u({ d: '1' }))
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
    return new Promise<void>((resolve) => (release = resolve))
  }
  const patch = f.upstream.patchParticipantAttributes
  let lost = true
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    if (lost) {
      lost = false
      throw failed('timed out', { kind: 'network' })
    }
    return patch(cid, pid, attrs)
  }
  // One attempt only: the lost write is final at once.
  const q = queue(f.upstream, { unknownOutcomePause: pause, policy: new RetryPolicy({ conflictRetries: 0, maxAttempts: 1 }) })
  const unknown = q.submit('c', { participantId: 'p' }, u({ a: '1' }))
  unknown.catch(() => {})
  await f.settle()
  await t.rejects(unknown, { code: 'UPSTREAM_OUTCOME_UNKNOWN' })
  t.equal(paused, 1, 'the lane is pausing')
  const next = q.submit('c', { participantId: 'p' }, u({ b: '1' })) // arrives during the pause
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
      throw failed('changed', { status: 409 })
    }
    return patch(cid, pid, attrs)
  }
  const q = queue(f.upstream, { conflictRetries: 2 })
  const r = q.submit('c', { participantId: 'p' }, u({ mine: '1' }))
  await f.settle()
  t.same((await r).attributes, { other: 'writer', mine: '1' })
  t.equal((await r).attempts, 2)
  t.equal(f.log.filter((l) => l.startsWith('get')).length, 2, 'read again after the 409')
})

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: ApiError) => e.code
  )

/** A promise's outcome as it stands now: 'waiting' until it settles. */
function watch (p: Promise<unknown>): () => string {
  let seen = 'waiting'
  void outcome(p).then((v) => (seen = v))
  return () => seen
}

/** Waits until the fake Genesys stands where `look` says, so that the clock is stepped at a known point. */
const heldAt = (what: string, look: () => boolean) => until(look, Boolean, { what, withinMs: 5000 })

t.test('an update still queued at its deadline is withdrawn: 504, and never written', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream)
  const first = q.submit('c', { participantId: 'p' }, u({ a: '1' })) // holds the lane until the test lets it go
  const late = watch(q.submit('c', { participantId: 'p' }, u({ b: '1' }, 30)))
  const patient = q.submit('c', { participantId: 'p' }, u({ c: '1' }))
  await clock.advance(29)
  t.equal(late(), 'waiting', 'not before its deadline')
  await clock.advance(1)
  await until(late, (s) => s !== 'waiting', { what: 'the late caller answered' })
  t.equal(late(), 'DEADLINE_EXCEEDED', 'answered at its deadline, while the lane was still busy')
  t.equal(q.callers, 2)
  await f.settle()
  await first
  t.same((await patient).attributes, { a: '1', c: '1' }, 'its batch went out without it')
  t.notOk(f.log.some((l) => l.includes('b')), 'no write ever carried it')
})

t.test('an update whose write is on the wire at its deadline is answered UPSTREAM_OUTCOME_UNKNOWN', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream)
  const holder = q.submit('c', { participantId: 'p' }, u({ x: '1' }))
  const short = watch(q.submit('c', { participantId: 'p' }, u({ a: '1' }, 150)))
  const long = q.submit('c', { participantId: 'p' }, u({ b: '1' }))
  for (let i = 0; i < 3; i++) await f.settleOnce() // the holder's read and write, then the batch's read
  await heldAt('the write carrying both held on the wire', () => f.log.at(-1) === 'patch c/p x,a,b' && f.held() === 1)
  t.equal(short(), 'waiting', 'its deadline has not come')
  await clock.advance(150)
  await until(short, (s) => s !== 'waiting', { what: 'the short caller answered' })
  t.equal(short(), 'UPSTREAM_OUTCOME_UNKNOWN', 'the short one cannot be told either way')
  await f.settle()
  await holder
  t.same((await long).attributes, { x: '1', a: '1', b: '1' }, 'the long one hears that it landed')
  t.equal((await long).coalesced, 1, 'the answer counts the callers it answered')
})

t.test('a write that may have landed is never reported as not applied', async (t) => {
  const f = fakeUpstream()
  const patch = f.upstream.patchParticipantAttributes
  const failures = [
    failed('socket hang up', { kind: 'network' }),
    failed('no', { status: 400 }),
  ]
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    const err = failures.shift()
    if (err) throw err
    return patch(cid, pid, attrs)
  }
  const q = queue(f.upstream)
  const a = outcome(q.submit('c', { participantId: 'p' }, u({ a: '1' })))
  await f.settle()
  t.equal(await a, 'UPSTREAM_OUTCOME_UNKNOWN', 'the retry got a 400, but the first attempt may have landed')
})

t.test('a failure that may pass is retried within the deadline, with the full map again', async (t) => {
  const f = fakeUpstream()
  const patch = f.upstream.patchParticipantAttributes
  let fails = 2
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    if (fails-- > 0) throw failed('503', { status: 503 })
    return patch(cid, pid, attrs)
  }
  const retries: string[] = []
  const q = queue(f.upstream, { onRetry: (r) => retries.push(r.cause) })
  const a = q.submit('c', { participantId: 'p' }, u({ a: '1' }))
  await f.settle()
  t.equal((await a).attempts, 3)
  t.same(retries, ['server', 'server'])
  t.same(f.state.get('c/p'), { a: '1' })
})

t.test('queues are bounded: past the limit an update is refused at once with OVERLOADED', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream, { maxPerConversation: 2, maxTotal: 3 })
  const held = [q.submit('c1', { participantId: 'p' }, u({ a: '1' })), q.submit('c1', { participantId: 'p' }, u({ a: '2' }))]
  const refused = (await q.submit('c1', { participantId: 'p' }, u({ a: '3' })).catch((e: unknown) => e)) as ApiError
  t.equal(refused.code, 'OVERLOADED', 'a third for one conversation')
  t.equal(refused.retryAfter, 1)
  held.push(q.submit('c2', { participantId: 'p' }, u({ a: '1' })))
  t.equal(await outcome(q.submit('c3', { participantId: 'p' }, u({ a: '1' }))), 'OVERLOADED', 'a fourth in all')
  await f.settle()
  await Promise.all(held)
  t.equal(q.callers, 0)
  const again = outcome(q.submit('c1', { participantId: 'p' }, u({ a: '4' })))
  await f.settle()
  t.equal(await again, 'ok', 'room again once answered')
})

t.test('an update that arrives past its deadline is refused without queueing', async (t) => {
  const q = queue(fakeUpstream().upstream)
  t.equal(await outcome(q.submit('c', { participantId: 'p' }, u({ a: '1' }, -1))), 'DEADLINE_EXCEEDED')
  t.equal(q.size, 0)
})

t.test('close: writes on the wire finish, queued updates are answered SHUTTING_DOWN by the limit', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream)
  const inFlight = q.submit('c', { participantId: 'p' }, u({ a: '1' }))
  const queued = outcome(q.submit('c', { participantId: 'p' }, u({ b: '1' })))
  await f.settleOnce() // the read
  await heldAt('the write on the wire', () => f.log.at(-1)?.startsWith('patch') === true && f.held() === 1)
  const closed = watch(q.close(clock.now() + 50))
  const closedAgain = watch(q.close(clock.now() + 50)) // a second signal, say
  const late = outcome(q.submit('c', { participantId: 'p' }, u({ c: '1' })))
  await f.settleOnce() // the write is answered; the queued batch's read is held
  t.same((await inFlight).attributes, { a: '1' }, 'the write on the wire finished and was answered')
  await clock.advance(50)
  t.equal(await queued, 'SHUTTING_DOWN', 'the queued one, at the limit, so it can go to another instance')
  t.equal(await late, 'SHUTTING_DOWN', 'as is one that arrived during shutdown')
  await until(() => [closed(), closedAgain()], ([a, b]) => a !== 'waiting' && b !== 'waiting', { what: 'both closes resolved', withinMs: 2000 })
  t.same([closed(), closedAgain()], ['ok', 'ok'], 'every close() resolves, not only the last')
  t.equal(q.callers, 0)
  await f.settle()
  t.same(f.log.filter((l) => l.startsWith('patch')), ['patch c/p a'], 'and neither was ever sent')
  await q.close(clock.now())
  t.pass('closing an idle queue resolves at once')
})

// Found by review: each of these failed on a mutant the rest of the suite let through.

t.test('a caller whose deadline passes during its batch\'s read is left out of the write', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream)
  const holder = q.submit('c', { participantId: 'p' }, u({ h: '1' }))
  const long = q.submit('c', { participantId: 'p' }, u({ long: '1' }))
  const short = outcome(q.submit('c', { participantId: 'p' }, u({ short: '1' }, 150)))
  await f.settleOnce() // holder's read
  await f.settleOnce() // holder's write; the {long, short} batch's read is then held
  await holder
  await heldAt("the batch's read held", () => f.log.length === 3 && f.held() === 1)
  await clock.advance(150)
  t.equal(await short, 'DEADLINE_EXCEEDED')
  await f.settle()
  await long
  t.notOk('short' in f.state.get('c/p')!, 'never written after being answered "not applied"')
})

t.test('a caller whose deadline passes while a possibly-landed write is retried hears "unknown"', async (t) => {
  const f = fakeUpstream()
  const patch = f.upstream.patchParticipantAttributes
  const lost = [false, true] // the holder's write is answered; the next one lands but its answer is lost
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    await patch(cid, pid, attrs)
    if (lost.shift()) throw failed('socket hang up', { kind: 'network' })
  }
  const q = new UpdateQueue(f.upstream, { ...queueOptions(), policy: new RetryPolicy({ conflictRetries: 0, baseDelayMs: 300, random: () => 0.5, clock }) })
  const holder = q.submit('c', { participantId: 'p' }, u({ h: '1' }))
  const a = q.submit('c', { participantId: 'p' }, u({ a: '1' }))
  const b = outcome(q.submit('c', { participantId: 'p' }, u({ b: '1' }, 250)))
  for (let i = 0; i < 4; i++) await f.settleOnce() // the holder's read and write, then the {a, b} read and lost write
  await holder
  await heldAt('the lost write answered, the retry waiting out its backoff', () => f.log.length === 4 && f.held() === 0)
  await clock.advance(250)
  const code = await b // expires during the backoff
  await clock.advance(50) // the backoff (300 ms) ends; the retry reads and writes again
  await f.settle()
  await a
  t.equal(f.state.get('c/p')?.b, '1', 'b is in Genesys')
  t.equal(code, 'UPSTREAM_OUTCOME_UNKNOWN', 'so b was not told "not written"')
})

t.test('a write is not sent with less than a moment left: its callers hear "not written" while that is true', async (t) => {
  const f = fakeUpstream()
  const q = queue(f.upstream)
  const holder = q.submit('c', { participantId: 'p' }, u({ h: '1' }))
  const deadline = clock.now() + 1000
  const late = watch(q.submit('c', { participantId: 'p' }, u({ late: '1' }, 1000)))
  await f.settleOnce() // holder's read
  await f.settleOnce() // holder's write; the next batch's read is held
  await holder
  await heldAt("the next batch's read held", () => f.log.length === 3 && f.held() === 1)
  await clock.advance(1000 - SEND_WINDOW_MS / 2) // its read answers with less than the send window to go
  await f.settleOnce()
  // The clock stands still: the caller's own deadline cannot be what answers it, only the send window.
  await until(late, (s) => s !== 'waiting', { what: 'the late caller answered', withinMs: 2000 })
  t.equal(late(), 'DEADLINE_EXCEEDED')
  t.ok(clock.now() < deadline, 'before its deadline')
  t.same(f.log.filter((l) => l.startsWith('patch')), ['patch c/p h'], 'and its write never went out')
})

t.test('a live update queued behind a bulk write of the same conversation lends it live priority', async (t) => {
  const budget = new RateBudget({ requests: 60, windowMs: 1800, clock }) // 6 units per 200 ms slice
  const f = fakeUpstream()
  const q = new UpdateQueue(f.upstream, { ...queueOptions(), budget })
  f.open = true
  const stream: Array<Promise<string>> = []
  let n = 0
  // Live traffic on other conversations, a little over the budget, for 2.5 s.
  const traffic = clock.every(200, () => {
    for (let i = 0; i < 4; i++) stream.push(outcome(q.submit(`other${n++}`, { participantId: 'p' }, { changes: { a: '1' }, deadline: clock.now() + 3000, priority: 'live' })))
  })
  await clock.advance(300)
  const crm = outcome(q.submit('C', { participantId: 'p' }, { changes: { crm: '1' }, deadline: clock.now() + 5000, priority: 'bulk' }))
  await clock.advance(5)
  const flowC = watch(q.submit('C', { participantId: 'p2' }, { changes: { flow: '1' }, deadline: clock.now() + 1600, priority: 'live' }))
  const flowD = watch(q.submit('D', { participantId: 'p' }, { changes: { flow: '1' }, deadline: clock.now() + 1600, priority: 'live' }))
  for (let i = 0; i < 170 && (flowC() === 'waiting' || flowD() === 'waiting'); i++) await clock.advance(10)
  t.equal(flowD(), 'ok')
  t.equal(flowC(), 'ok', 'the flow behind the CRM write is served like the other')
  traffic.cancel()
  await clock.advance(5000)
  await Promise.all([crm, ...stream])
})

t.test("a write waiting for the budget does not hold the conversation's lock meanwhile", async (t) => {
  // Other replicas poll for a held lock: one waiting for units would keep them all waiting.
  let waits = 0
  const budget = new RateBudget({ requests: 2, windowMs: 60_000, clock, onWait: () => waits++ })
  await budget.reserve('live', clock.now() + 1000, 2) // the window is full for a minute (and 1 s of margin)
  const holders: string[] = []
  let patchedHolding = false
  const lock: ConversationLock = {
    acquire: async (conversationId) => {
      holders.push(conversationId)
      return { held: true, release: async () => { holders.splice(holders.indexOf(conversationId), 1) } }
    },
  }
  const f = fakeUpstream()
  f.open = true
  const patch = f.upstream.patchParticipantAttributes
  f.upstream.patchParticipantAttributes = async (cid, pid, attrs) => {
    patchedHolding = holders.includes(cid)
    return patch(cid, pid, attrs)
  }
  const q = new UpdateQueue(f.upstream, { ...queueOptions(), budget, lock })
  const write = watch(q.submit('c', { participantId: 'p' }, u({ a: '1' }, 120_000)))
  await until(() => waits, (n) => n > 0, { what: 'the write waiting for units' })
  t.same(holders, [], 'the lock is not held while the write waits for units')
  await clock.advance(61_000)
  await until(write, (s) => s !== 'waiting', { what: 'the write answered' })
  t.equal(write(), 'ok')
  t.ok(patchedHolding, 'the PATCH went out under the lock')
  t.same(holders, [], 'released after')
})
