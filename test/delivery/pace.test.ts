import t from 'tap'
import { Pacer } from '../../src/delivery/pace.js'

/** A pacer on a clock the test moves, reading the utilization the test sets; `saturate` brings its limit down to one. */
function pacer (max: number, shed = false) {
  let now = 0
  let busy = 0
  const p = new Pacer({ max, shed, utilization: () => busy, clock: () => now })
  const saturate = () => {
    busy = 1
    for (let i = 0; i < 12; i++) {
      now += 100
      void p.limit
    }
  }
  return { p, later: (ms: number) => (now += ms), busy: (u: number) => (busy = u), saturate }
}

/** An attempt that runs until released; `started` says whether it has begun. */
function held () {
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const a = { started: false, release, run: async () => { a.started = true; await gate; return 'ran' } }
  return a
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

t.test('with time to spare, attempts start at once, up to max together', async (t) => {
  const { p } = pacer(3)
  const attempts = [held(), held(), held(), held()]
  const done = attempts.map((a) => p.run(a.run, 'closed'))
  await tick()
  t.same(attempts.map((a) => a.started), [true, true, true, false], 'three at once; the fourth waits for one of them')
  attempts[1]!.release()
  await tick()
  t.ok(attempts[3]!.started, 'and starts when one ends')
  for (const a of attempts) a.release()
  t.same(await Promise.all(done), ['ran', 'ran', 'ran', 'ran'])
})

t.test('each busy window halves the limit down to one; attempts then go one at a time, in the order they came', async (t) => {
  const { p, later, busy } = pacer(8)
  busy(0.95)
  const limits = []
  for (let i = 0; i < 5; i++) {
    later(100)
    limits.push(p.limit)
  }
  t.same(limits, [4, 2, 1, 1, 1])
  const order: string[] = []
  const attempts = ['a', 'b', 'c'].map((name) => ({ name, ...held() }))
  const done = attempts.map((a) => p.run(async () => { order.push(a.name); return a.run() }, 'closed'))
  await tick()
  t.same(order, ['a'], 'one at a time')
  attempts[2]!.release()
  attempts[0]!.release()
  await tick()
  t.same(order, ['a', 'b'], 'the next to come goes next')
  attempts[1]!.release()
  await Promise.all(done)
  t.same(order, ['a', 'b', 'c'])
})

t.test('one long stall halves it once; windows with time to spare raise it by one each, up to max, a long quiet stretch by its windows', async (t) => {
  const { p, later, busy, saturate } = pacer(500)
  busy(1)
  later(1000)
  t.equal(p.limit, 250, 'a second with the loop never idle: halved once')
  saturate()
  t.equal(p.limit, 1)
  busy(0.5)
  later(100)
  t.equal(p.limit, 2)
  later(250)
  t.equal(p.limit, 4, 'two more windows')
  later(60_000)
  t.equal(p.limit, 500, 'a minute later, back to max')
  later(30)
  busy(1)
  t.equal(p.limit, 500, 'within a window, nothing changes')
})

t.test('an idle replica starts an attempt at once whatever the limit', async (t) => {
  const { p, saturate } = pacer(500)
  saturate()
  t.equal(p.limit, 1)
  const a = held()
  const done = p.run(a.run, 'closed')
  await tick()
  t.ok(a.started)
  a.release()
  t.equal(await done, 'ran')
})

t.test('closed: attempts that wait never start, nor do later ones; those running finish', async (t) => {
  const { p, saturate } = pacer(4)
  saturate()
  const running = held()
  const waiting = held()
  const first = p.run(running.run, 'closed')
  const second = p.run(waiting.run, 'closed')
  await tick()
  p.close()
  t.equal(await second, 'closed', 'the waiting one gets the fallback')
  t.notOk(waiting.started)
  t.equal(await p.run(async () => 'ran', 'closed'), 'closed', 'so does a later one')
  running.release()
  t.equal(await first, 'ran', 'the running one finished')
})

t.test('attempts waiting their turn start once the loop has time again, even while the one running is held up', async (t) => {
  const { p, later, busy, saturate } = pacer(8)
  saturate()
  const stuck = held()
  const waiting = [held(), held()]
  const done = [stuck, ...waiting].map((a) => p.run(a.run, 'closed'))
  await tick()
  t.same(waiting.map((a) => a.started), [false, false], 'one at a time while busy')
  busy(0.1)
  later(200)
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.same(waiting.map((a) => a.started), [true, true], 'the limit rose by two windows and both started')
  for (const a of [stuck, ...waiting]) a.release()
  await Promise.all(done)
})

t.test('shedding: beyond twice the limit an attempt is turned away at once; when the limit falls, so are those waiting beyond it', async (t) => {
  const { p, later, busy } = pacer(4, true)
  busy(1)
  later(100)
  t.equal(p.limit, 2)
  const attempts = Array.from({ length: 5 }, () => held())
  const done = attempts.map((a) => p.run(a.run, 'turned away'))
  await tick()
  t.same(attempts.map((a) => a.started), [true, true, false, false, false], 'two run, two wait')
  t.equal(await done[4], 'turned away', 'the fifth, beyond twice the limit, at once')
  later(100)
  t.equal(p.limit, 1)
  t.same(await Promise.all(done.slice(2, 4)), ['turned away', 'turned away'], 'two running are already twice the new limit: those waiting go back')
  attempts[0]!.release()
  attempts[1]!.release()
  t.same(await Promise.all(done.slice(0, 2)), ['ran', 'ran'], 'those running finish')
  t.notOk(attempts.slice(2).some((a) => a.started), 'the others never started here')
})
