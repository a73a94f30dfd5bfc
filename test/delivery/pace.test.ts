import t from 'tap'
import { Pacer } from '../../src/delivery/pace.js'

/** A pacer on a clock the test moves, reading the utilization the test sets. */
function pacer (max: number) {
  let now = 0
  let busy = 0
  const p = new Pacer({ max, utilization: () => busy, clock: () => now })
  return { p, later: (ms: number) => (now += ms), busy: (u: number) => (busy = u) }
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

t.test('windows with time to spare raise it by one each, up to max; a long quiet stretch counts each window in it', async (t) => {
  const { p, later, busy } = pacer(500)
  busy(1)
  later(1000)
  t.equal(p.limit, 1, 'ten busy windows')
  busy(0.5)
  later(100)
  t.equal(p.limit, 2)
  later(250)
  t.equal(p.limit, 4, 'two more windows')
  later(60_000)
  t.equal(p.limit, 500, 'a minute later, back to max')
  later(50)
  busy(1)
  t.equal(p.limit, 500, 'within a window, nothing changes')
})

t.test('an idle replica starts an attempt at once whatever the limit', async (t) => {
  const { p, later, busy } = pacer(500)
  busy(1)
  later(1000)
  t.equal(p.limit, 1)
  const a = held()
  const done = p.run(a.run, 'closed')
  await tick()
  t.ok(a.started)
  a.release()
  t.equal(await done, 'ran')
})

t.test('closed: attempts that wait never start, nor do later ones; those running finish', async (t) => {
  const { p, later, busy } = pacer(4)
  busy(1)
  later(200)
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
  const { p, later, busy } = pacer(8)
  busy(1)
  later(1000)
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
