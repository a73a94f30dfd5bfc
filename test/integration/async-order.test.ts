import t, { type Test } from 'tap'
import { MockAgent } from 'undici'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startReplicas, startStack, until, type Stack } from '../helpers/stack.ts'
import type { Update } from '../../src/updates/ports.ts'

/** An asynchronous update as its delivery submits it: every key numbered `seq`. */
const bulk = (changes: Update['changes'], seq: number): Update => ({
  changes,
  seqs: Object.fromEntries(Object.keys(changes).map((k) => [k, seq])),
  priority: 'bulk',
  deadline: Date.now() + 5000,
})

/** Polls the update until it is in one of `states`; one that never gets there fails loudly. */
async function settled (stack: Stack, location: string, states = ['written', 'failed']): Promise<{ state: string; attempts: number }> {
  return await until(async () => (await send(stack.url + location, 'GET')).body, (body) => states.includes(body.state), { what: `${location} ${states.join(' or ')}` })
}

/** Two replicas on one Redis and one simulator, and a participant to write to. */
async function twoReplicas (t: Test) {
  const redis = await startRedis(t)
  const [a, b] = await startReplicas(t, { env: { REDIS_URL: redis.url } })
  const p = id()
  return { a, b, c: id(), p, target: { participantId: p } }
}

t.test('a retried older update delivered after a newer one leaves the newer value, and still writes its other keys', async (t) => {
  const { app, sim } = await startStack(t)
  const c = id()
  const p = id()
  const target = { participantId: p }
  const older = await app.services.updates.sequence(c)
  const newer = await app.services.updates.sequence(c)
  t.ok(newer > older)
  await app.services.updates.submit(c, target, bulk({ shared: 'new' }, newer))
  await app.services.updates.submit(c, target, bulk({ shared: 'old', own: 'x' }, older))
  t.same(sim.attributes(c, p), { shared: 'new', own: 'x' })
  const writes = sim.stats.writes
  await app.services.updates.submit(c, target, bulk({ shared: 'old' }, older))
  t.equal(sim.stats.writes, writes, 'nothing left to write: no PATCH at all')
})

t.test('coalesced into one write, the later accepted value wins whatever the order of arrival', async (t) => {
  const { app, sim } = await startStack(t, { sim: { writeMs: 300 } })
  const c = id()
  const p = id()
  const target = { participantId: p }
  const blocker = app.services.updates.submit(c, target, bulk({ first: '1' }, await app.services.updates.sequence(c)))
  const older = await app.services.updates.sequence(c)
  const newer = await app.services.updates.sequence(c)
  // Both wait behind the blocker and go out in one write; the newer arrived first.
  await Promise.all([blocker, app.services.updates.submit(c, target, bulk({ shared: 'new' }, newer)), app.services.updates.submit(c, target, bulk({ shared: 'old' }, older))])
  t.equal(sim.attributes(c, p)?.shared, 'new')
  t.equal(sim.stats.writes, 2)
})

t.test('a synchronous write made while an earlier async update waits for its retry wins over it', async (t) => {
  // Genesys refuses the async update's first PATCH with a 409, which (with no conflict retries)
  // sends it back to wait for its next attempt; meanwhile a synchronous write of the same key
  // lands. The async update's retry must then leave that key alone.
  const agent = new MockAgent()
  agent.enableNetConnect()
  t.teardown(() => agent.close())
  const stack = await startStack(t, { env: { GENESYS_CONFLICT_RETRIES: '0' }, deps: { dispatcher: agent } })
  const { post, sim } = stack
  let refuse = true
  agent.get(new URL(stack.config.genesys.apiUrl).origin)
    .intercept({ method: 'PATCH', path: (p) => p.startsWith('/api/v2/conversations/'), body: (b) => refuse && b.includes('"async"') })
    .reply(409, { status: 409, code: 'conflict', message: 'Conversation was modified' })
    .persist()
  const c = id()
  const p = id()
  const path = `/participants/${c}/${p}/data`
  const accepted = await post(path, { attributes: { shared: 'async', own: 'kept' } }, { prefer: 'respond-async' })
  t.equal(accepted.status, 202)
  t.equal((await settled(stack, String(accepted.headers.location), ['retrying'])).state, 'retrying', 'its first attempt was refused')
  const sync = await post(path, { attributes: { shared: 'sync' } })
  t.equal(sync.status, 200, 'the synchronous write went through')
  refuse = false
  const final = await settled(stack, String(accepted.headers.location))
  t.match(final, { state: 'written' })
  t.ok(final.attempts >= 2, `delivered by a retry (${final.attempts} attempts)`)
  t.same(sim.attributes(c, p), { shared: 'sync', own: 'kept' }, 'the later write stands; the async update still wrote its other key')
})

t.test('two replicas on one Redis: an older update delivered by one after a newer one by the other is left out', async (t) => {
  const { a, b, c, p, target } = await twoReplicas(t)
  const older = await a.app.services.updates.sequence(c)
  const newer = await b.app.services.updates.sequence(c)
  t.ok(newer > older, 'one order across replicas')
  await b.app.services.updates.submit(c, target, bulk({ shared: 'new' }, newer))
  await a.app.services.updates.submit(c, target, bulk({ shared: 'old', own: 'x' }, older))
  t.same(a.sim.attributes(c, p), { shared: 'new', own: 'x' })
})

t.test('two replicas on one Redis: a synchronous write through one beats an older async update delivered late through the other', async (t) => {
  const { a, b, c, p, target } = await twoReplicas(t)
  const older = await a.app.services.updates.sequence(c)
  await b.post(`/participants/${c}/${p}/data`, { attributes: { shared: 'sync' } })
  await a.app.services.updates.submit(c, target, bulk({ shared: 'old', own: 'x' }, older))
  t.same(a.sim.attributes(c, p), { shared: 'sync', own: 'x' })
})
