// Read-your-writes against a Genesys that shows writes late and is written by others too: no
// value the gateway acknowledged is overwritten by an older one a late read showed, on any
// replica, over a restart, in both write modes; someone else's later value stands.
import t from 'tap'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startStack, type Stack } from '../helpers/stack.ts'

/**
 * The simulator's clock, held still: every read shows the participant as it stood before any
 * write made since, however long the machine takes, until the test moves it on.
 */
function stillClock () {
  let now = Date.now()
  return { clock: () => now, pass: (ms: number) => (now += ms) }
}

const LAG = 400

/** A sequence of calls, one after the other, as one flow makes them. */
async function inTurn (n: number, call: (i: number) => Promise<unknown>) {
  for (let i = 0; i < n; i++) await call(i)
}

const keysFrom = (prefix: string, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, `v${i}`]))

for (const semantics of ['replace', 'merge'] as const) {
  t.test(`Genesys ${semantics}s on PATCH, reads ${LAG} ms late: one flow's 12 calls in a row, a new key each, all stay`, async (t) => {
    const time = stillClock()
    const s = await startStack(t, { sim: { semantics, readLagMs: LAG, clock: time.clock } })
    const [c, p] = [id(), id()]
    await inTurn(12, async (i) => {
      const a = await s.post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: `v${i}` } })
      t.equal(a.status, 200)
      // The answer shows every value acknowledged so far, though Genesys does not show them yet.
      t.same(a.body.attributes, keysFrom('k', i + 1), `call ${i + 1}'s answer`)
    })
    t.same(s.sim.attributes(c, p), keysFrom('k', 12), 'in Genesys: all 12')
  })
}

t.test('a flow and a CRM on one participant side by side, and 20 conversations at once: nothing acknowledged is lost', async (t) => {
  const time = stillClock()
  const s = await startStack(t, { sim: { semantics: 'replace', readLagMs: LAG, clock: time.clock } })
  const calls = Array.from({ length: 20 }, () => ({ c: id(), p: id() }))
  for (const { c, p } of calls) s.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer' }, { id: id(), purpose: 'agent' }] })
  // What each conversation was answered 200 for: on a loaded machine a caller's deadline may pass.
  const acknowledged = new Map<string, Record<string, string>>(calls.map(({ c }) => [c, {}]))
  const call = async (path: string, c: string, key: string) => {
    const a = await s.post(path, { attributes: { [key]: 'v' } })
    if (a.status === 200) acknowledged.get(c)![key] = 'v'
    else t.equal(a.body.code, 'DEADLINE_EXCEEDED', `${key} not written: ${a.status} ${a.body.code}`)
  }
  await Promise.all(calls.flatMap(({ c, p }) => [
    // The flow knows only the conversation (its customer); the CRM names the participant.
    inTurn(5, (i) => call(`/conversations/${c}/data`, c, `flow${i}`)),
    inTurn(5, (i) => call(`/participants/${c}/${p}/data`, c, `crm${i}`)),
  ]))
  const written = [...acknowledged.values()].reduce((n, keys) => n + Object.keys(keys).length, 0)
  t.ok(written > 100, `${written} of 200 acknowledged`)
  for (const { c, p } of calls) t.same(s.sim.attributes(c, p), acknowledged.get(c), `conversation ${c}: every acknowledged value`)
})

t.test('a later write of another key does not carry back a value the gateway wrote (Genesys merging per key)', async (t) => {
  const time = stillClock()
  const s = await startStack(t, { sim: { semantics: 'merge', readLagMs: LAG, clock: time.clock } })
  const [c, p] = [id(), id()]
  s.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { tier: 'silver' } }] })
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } })).status, 200)
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { intent: 'billing' } })).status, 200)
  t.same(s.sim.attributes(c, p), { tier: 'gold', intent: 'billing' })
  // The same key three times in the window: no older value of ours comes back either.
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'platinum' } })).status, 200)
  time.pass(LAG / 2)
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { note: 'x' } })).status, 200)
  t.same(s.sim.attributes(c, p), { tier: 'platinum', intent: 'billing', note: 'x' })
})

for (const mode of ['merge', 'patch'] as const) {
  t.test(`${mode} mode: GET …/data and a dry run show what the gateway acknowledged, before Genesys does`, async (t) => {
    const time = stillClock()
    const s = await startStack(t, { sim: { readLagMs: LAG, clock: time.clock }, env: { GENESYS_WRITE_MODE: mode } })
    const [c, p] = [id(), id()]
    s.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { tier: 'silver' } }] })
    t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } })).status, 200)
    t.same((await send(`${s.url}/participants/${c}/${p}/data`, 'GET')).body.attributes, { tier: 'gold' }, 'the read-back')
    const dry = await s.post(`/participants/${c}/${p}/data?dryRun=true`, { attributes: { intent: 'billing' } })
    t.same(dry.body.attributes, { tier: 'gold', intent: 'billing' }, 'the dry run')
    // Once Genesys shows it, the read stands on its own.
    time.pass(LAG)
    t.same((await send(`${s.url}/participants/${c}/${p}/data`, 'GET')).body.attributes, { tier: 'gold' })
  })
}

t.test("someone else's later value stands: a read showing a third value is theirs, not late", async (t) => {
  const time = stillClock()
  const s = await startStack(t, { sim: { semantics: 'merge', readLagMs: LAG, clock: time.clock } })
  const [c, p] = [id(), id()]
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { status: 'ours' } })).status, 200)
  time.pass(LAG)
  // A flow sets the same key after us, and a key of its own.
  t.ok(s.sim.writeBehind(c, p, { status: 'the flow\'s', flow_step: '3' }))
  time.pass(LAG)
  t.same((await send(`${s.url}/participants/${c}/${p}/data`, 'GET')).body.attributes, { status: 'the flow\'s', flow_step: '3' }, 'the read shows theirs')
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { other: '1' } })).status, 200)
  t.same(s.sim.attributes(c, p), { status: 'the flow\'s', flow_step: '3', other: '1' }, 'a full-map write keeps theirs')
})

t.test("patch mode: a write behind the gateway's back survives, whatever the reads show", async (t) => {
  const time = stillClock()
  const s = await startStack(t, { sim: { semantics: 'merge', readLagMs: LAG, clock: time.clock }, env: { GENESYS_WRITE_MODE: 'patch' } })
  const [c, p] = [id(), id()]
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { a: '1' } })).status, 200)
  // Through the simulator's own route, as another integration's PATCH would come.
  const behind = await send(`${s.config.genesys.apiUrl}/__sim/conversations/${c}/participants/${p}/attributes`, 'POST', { attributes: { flow_key: 'f' } })
  t.equal(behind.status, 200)
  t.equal((await s.post(`/participants/${c}/${p}/data`, { attributes: { b: '2' } })).status, 200)
  t.same(s.sim.attributes(c, p), { a: '1', flow_key: 'f', b: '2' })
})

t.test('replicas sharing Redis, and a restart within the window: every acknowledged value stays', async (t) => {
  const redis = await startRedis(t)
  const time = stillClock()
  const env = { REDIS_URL: redis.url }
  const sim = { clientId: `ryw-${id()}`, semantics: 'replace' as const, readLagMs: LAG, clock: time.clock }
  const one = await startStack(t, { sim, env })
  const two = await startStack(t, { shareSimWith: one, env })
  const [c, p] = [id(), id()]
  await inTurn(8, (i) => (i % 2 === 0 ? one : two).post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: `v${i}` } }))
  t.same(one.sim.attributes(c, p), keysFrom('k', 8), 'alternating replicas: all 8')
  t.same((await send(`${two.url}/participants/${c}/${p}/data`, 'GET')).body.attributes, keysFrom('k', 8), "a replica's read shows the other's writes")

  // One replica goes (a deploy), and a new one takes its place within the window.
  await one.app.close()
  const three: Stack = await startStack(t, { shareSimWith: one, env })
  t.equal((await three.post(`/participants/${c}/${p}/data`, { attributes: { after: 'restart' } })).status, 200)
  t.same(one.sim.attributes(c, p), { ...keysFrom('k', 8), after: 'restart' }, 'after the restart: nothing lost')
})
