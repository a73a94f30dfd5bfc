import t from 'tap'
import { startRedis } from '../helpers/redis.js'
import { id, send, startStack } from '../helpers/stack.js'
import type { Update } from '../../src/updates/ports.js'

const bulk = (changes: Update['changes'], seq: number): Update => ({ changes, seq, priority: 'bulk', deadline: Date.now() + 5000 })

t.test('a retried older update delivered after a newer one leaves the newer value, and still writes its other keys', async (t) => {
  const { app, sim } = await startStack(t)
  const c = id()
  const p = id()
  const target = { participantId: p }
  const older = await app.updates.sequence()
  const newer = await app.updates.sequence()
  t.ok(newer > older)
  await app.updates.submit(c, target, bulk({ shared: 'new' }, newer))
  await app.updates.submit(c, target, bulk({ shared: 'old', own: 'x' }, older))
  t.same(sim.attributes(c, p), { shared: 'new', own: 'x' })
  const writes = sim.stats.writes
  await app.updates.submit(c, target, bulk({ shared: 'old' }, older))
  t.equal(sim.stats.writes, writes, 'nothing left to write: no PATCH at all')
})

t.test('coalesced into one write, the later accepted value wins whatever the order of arrival', async (t) => {
  const { app, sim } = await startStack(t, { sim: { writeMs: 300 } })
  const c = id()
  const p = id()
  const target = { participantId: p }
  const blocker = app.updates.submit(c, target, bulk({ first: '1' }, await app.updates.sequence()))
  const older = await app.updates.sequence()
  const newer = await app.updates.sequence()
  // Both wait behind the blocker and go out in one write; the newer arrived first.
  await Promise.all([blocker, app.updates.submit(c, target, bulk({ shared: 'new' }, newer)), app.updates.submit(c, target, bulk({ shared: 'old' }, older))])
  t.equal(sim.attributes(c, p)?.shared, 'new')
  t.equal(sim.stats.writes, 2)
})

t.test('a synchronous write arriving after an async one wins over it, even when the async one is delivered later', async (t) => {
  const stack = await startStack(t, { sim: { writeMs: 300 } })
  const { post, sim } = stack
  const c = id()
  const p = id()
  const path = `/participants/${c}/${p}/data`
  // The async update waits behind this write; the synchronous one arrives after it was accepted.
  const blocker = post(path, { attributes: { first: '1' } })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const accepted = await post(path, { attributes: { shared: 'async' } }, { prefer: 'respond-async' })
  t.equal(accepted.status, 202)
  const sync = await post(path, { attributes: { shared: 'sync' } })
  t.equal(sync.status, 200)
  await blocker
  const until = Date.now() + 5000
  let state = ''
  while (state !== 'written' && Date.now() < until) state = (await send(stack.url + accepted.headers.location, 'GET')).body.state
  t.equal(state, 'written')
  t.equal(sim.attributes(c, p)?.shared, 'sync')
})

t.test('two replicas on one Redis: an older update delivered by one after a newer one by the other is left out', async (t) => {
  const redis = await startRedis(t)
  const a = await startStack(t, { env: { REDIS_URL: redis.url } })
  const b = await startStack(t, { env: { REDIS_URL: redis.url }, shareSimWith: a })
  const c = id()
  const p = id()
  const target = { participantId: p }
  const older = await a.app.updates.sequence()
  const newer = await b.app.updates.sequence()
  t.ok(newer > older, 'one order across replicas')
  await b.app.updates.submit(c, target, bulk({ shared: 'new' }, newer))
  await a.app.updates.submit(c, target, bulk({ shared: 'old', own: 'x' }, older))
  t.same(a.sim.attributes(c, p), { shared: 'new', own: 'x' })
})
