import t from 'tap'
import { simToken } from '../helpers/sim-token.ts'
import { buildSimulator, type Simulator } from '../../src/sim/simulator.ts'
import { id, type Teardown } from '../helpers/stack.ts'

// Genesys propagates attribute writes asynchronously: a read shows each participant's map as it
// stood SIM_READ_LAG_MS ago. The simulator's clock is the test's, moved by hand.

async function setup (t: Teardown, readLagMs: number) {
  let now = 1_000_000
  const sim = buildSimulator({ readLagMs, clock: () => now })
  t.teardown(() => sim.app.close())
  const token = await simToken(sim)
  const [c, p] = [id(), id()]
  const auth = { authorization: `Bearer ${token}` }
  const patch = async (attributes: Record<string, string>) =>
    (await sim.app.inject({ method: 'PATCH', url: `/api/v2/conversations/${c}/participants/${p}/attributes`, headers: auth, payload: { attributes } })).statusCode
  const shown = async () => (await sim.app.inject({ method: 'GET', url: `/api/v2/conversations/${c}`, headers: auth })).json().participants.find((x: { id: string }) => x.id === p).attributes
  return { sim: sim as Simulator, c, p, patch, shown, pass: (ms: number) => (now += ms) }
}

t.test('a read shows each map as it stood the lag ago; the truth is at once', async (t) => {
  const s = await setup(t, 400)
  t.equal(await s.patch({ a: '1' }), 202)
  t.same(await s.shown(), {}, 'right after the write: not yet')
  t.same(s.sim.attributes(s.c, s.p), { a: '1' }, 'though it landed')
  s.pass(200)
  t.equal(await s.patch({ b: '2' }), 202)
  s.pass(199)
  t.same(await s.shown(), {}, 'just short of the lag: still the map before both')
  s.pass(1)
  t.same(await s.shown(), { a: '1' }, 'the first write shows, the second not yet')
  s.pass(200)
  t.same(await s.shown(), { a: '1', b: '2' }, 'then both')
})

t.test("a write behind the gateway's back (a flow's) lands per key at once and shows late, like any other", async (t) => {
  const s = await setup(t, 400)
  t.equal(await s.patch({ a: '1' }), 202)
  const behind = await s.sim.app.inject({ method: 'POST', url: `/__sim/conversations/${s.c}/participants/${s.p}/attributes`, payload: { attributes: { flow: 'x', a: '2' } } })
  t.equal(behind.statusCode, 200)
  t.same(behind.json(), { attributes: { a: '2', flow: 'x' } })
  t.same(s.sim.attributes(s.c, s.p), { a: '2', flow: 'x' })
  t.same(await s.shown(), {})
  s.pass(400)
  t.same(await s.shown(), { a: '2', flow: 'x' })
  t.ok(s.sim.writeBehind(s.c, s.p, { other: 'y' }), 'the same in code')
  t.notOk(s.sim.writeBehind(s.c, id(), { other: 'y' }), 'an unknown participant is said so')
  const bad = await s.sim.app.inject({ method: 'POST', url: `/__sim/conversations/${s.c}/participants/${s.p}/attributes`, payload: { attributes: { n: 1 } } })
  t.equal(bad.statusCode, 400)
  const unknown = await s.sim.app.inject({ method: 'POST', url: `/__sim/conversations/${id()}/participants/${s.p}/attributes`, payload: { attributes: { n: '1' } } })
  t.equal(unknown.statusCode, 404)
})

t.test('no lag: reads show writes at once', async (t) => {
  const s = await setup(t, 0)
  t.equal(await s.patch({ a: '1' }), 202)
  t.same(await s.shown(), { a: '1' })
})
