import { Redis } from 'ioredis'
import t from 'tap'
import { RedisDeliveryStore } from '../../src/coordination/delivery-redis.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { startService } from '../helpers/process.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startReplicas, startStack, TEST_READ_LAG_MS, until, type Answer, type Teardown } from '../helpers/stack.ts'

const crm = { 'x-api-key': 'crm-key', prefer: 'respond-async' }
const auth = { 'x-api-key': 'crm-key' }

/**
 * Polls every update's status through `url` until none is queued or retrying; one that never
 * settles fails loudly (`withinMs` bounds a broken run, far beyond a healthy one).
 */
async function settle (url: string, ids: string[], withinMs = 30_000): Promise<Map<string, Answer['body']>> {
  const states = new Map<string, Answer['body']>()
  let open = ids
  await until(async () => {
    for (const u of open) states.set(u, (await send(`${url}/updates/${u}`, 'GET', undefined, auth)).body)
    open = open.filter((u) => !['written', 'failed'].includes(states.get(u)?.state))
    return open
  }, (left) => left.length === 0, { what: 'every update written or failed', withinMs, everyMs: 250 }) // a look is a GET per update
  return states
}

async function simulator (t: Teardown, opts: Parameters<typeof buildSimulator>[0] = {}) {
  const clientId = `async-${id()}`
  const sim = buildSimulator({ clientId, clientSecret: 's', readLagMs: TEST_READ_LAG_MS, ...opts })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const env = { GENESYS_CLIENT_ID: clientId, GENESYS_CLIENT_SECRET: 's', GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_RATE_LIMIT_PER_MINUTE: '1000000', API_KEYS: 'crm:crm-key:bulk,other:other-key' }
  return { sim, env }
}

t.test('with Redis, an update accepted by one replica is stored there: any replica answers for it, in production too', async (t) => {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, API_KEYS: 'crm:crm-key:bulk,other:other-key', NODE_ENV: 'production' }
  const [a, b] = await startReplicas(t, { env })
  const c = id()
  const p = id()
  const accepted = await a.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, crm)
  t.equal(accepted.status, 202)
  t.equal(accepted.headers['preference-applied'], 'respond-async')
  const states = await settle(b.url, [accepted.body.id])
  t.match(states.get(accepted.body.id), { state: 'written', participantId: p, attempts: 1 })
  t.equal(a.sim.attributes(c, p)?.tier, 'gold')
  const theirs = await send(`${b.url}/updates/${accepted.body.id}`, 'GET', undefined, { 'x-api-key': 'other-key' })
  t.equal(theirs.body.code, 'UPDATE_NOT_FOUND')
  const metrics = await fetch(`${a.url}/metrics`).then((r) => r.text())
  t.match(metrics, /pdg_async_backlog 0/)

  await redis.cut()
  const down = await a.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'silver' } }, crm)
  t.equal(down.status, 503, 'without the store, nothing is accepted')
  t.equal(down.body.code, 'COORDINATION_UNAVAILABLE')
  t.equal((await send(`${a.url}/readyz`, 'GET')).status, 503, 'and the replica says it is not ready')
  await redis.restore()
})

t.test('two replicas on one Redis and a faulty upstream; one killed with SIGKILL mid-delivery: every 202 settles', async (t) => {
  const redis = await startRedis(t)
  const { sim, env } = await simulator(t, {
    // No 429s: each one now sets the budget to what Genesys allowed in the last minute, for five
    // minutes, so 3% of them at random would pin delivery to this run's first seconds' pace for
    // longer than the test waits. What a 429 does is tested in burst.test.ts and budget*.test.ts.
    faults: { serverErrorRate: 0.05, conflictRate: 0.05, dropRate: 0.01, latencyMs: { min: 50, max: 300 } },
  })
  const both = { ...env, REDIS_URL: redis.url, GENESYS_TIMEOUT_MS: '2000' }
  const [a, b] = await Promise.all([startService(t, both), startService(t, both)])
  // The size: 500 updates over 100 conversations.
  const conversations = Array.from({ length: 100 }, () => ({ c: id(), p: id() }))
  const ids: string[] = []
  // In rounds of one update per conversation, so each conversation's order of acceptance is known.
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all(
      conversations.map(({ c, p }, k) => {
        const i = round * conversations.length + k
        return send(`${(i % 2 ? a : b).url}/participants/${c}/${p}/data`, 'POST', { attributes: { [`u${i}`]: 'x', shared: String(round) } }, crm)
      })
    )
    t.same(answers.map((r) => r.status).filter((s) => s !== 202), [], `round ${round}: all accepted`)
    ids.push(...answers.map((r) => r.body.id))
  }
  const backlog = Number((await fetch(`${b.url}/metrics`).then((r) => r.text())).match(/pdg_async_backlog (\d+)/)?.[1])
  t.ok(backlog > 0, `${backlog} updates undelivered when the replica is killed`)
  a.child.kill('SIGKILL')
  await a.exited
  const states = await settle(b.url, ids, 120_000)
  const open = ids.filter((u) => !['written', 'failed'].includes(states.get(u)?.state))
  t.same(open, [], 'none stays queued or retrying')
  const failed = [...states.values()].filter((s) => s.state === 'failed')
  t.same(failed.map((s) => s.error.code).filter((code: string) => !/^[A-Z_]+$/.test(code)), [], 'failures carry a catalogue code')
  let missing = 0
  for (const [i, u] of ids.entries()) {
    const s = states.get(u)
    const { c, p } = conversations[i % conversations.length]!
    if (s.state === 'written' && sim.attributes(c, p)?.[`u${i}`] !== 'x') missing++
  }
  t.equal(missing, 0, 'every update said written is in the simulator')
  const lastRound = conversations.length * 4
  const stale = conversations.filter(({ c, p }, k) => states.get(ids[lastRound + k]!)?.state === 'written' && sim.attributes(c, p)?.shared !== '4')
  t.same(stale, [], 'per conversation, the shared key holds the value accepted last')
  t.equal(sim.stats.conflicts, 0, 'no overlapping upstream writes (only injected 409s)')
  t.comment(`${ids.length - failed.length} written, ${failed.length} failed; ${sim.stats.writes} upstream writes`)
})

t.test('SIGTERM: intake stops, the replica exits in time, and leaves what it could not deliver stored for another', async (t) => {
  const redis = await startRedis(t)
  // Each Genesys exchange takes longer than the shutdown allows: nothing A starts can finish.
  const { sim, env } = await simulator(t, { recordRequests: true, faults: { latencyMs: { min: 1500, max: 1500 } } })
  const both = { ...env, REDIS_URL: redis.url, SHUTDOWN_TIMEOUT_MS: '3000' }
  const a = await startService(t, both)
  const targets = Array.from({ length: 20 }, () => ({ c: id(), p: id() }))
  const answers = await Promise.all(targets.map(({ c, p }) => send(`${a.url}/participants/${c}/${p}/data`, 'POST', { attributes: { k: c } }, crm)))
  t.same(answers.map((r) => r.status).filter((s) => s !== 202), [])
  // Until A has claimed every conversation (a claim pushes its due time a lease ahead); far too
  // short for any exchange to finish.
  const peek = new Redis(redis.url)
  t.teardown(() => peek.quit())
  const claimed = async () => {
    const due = await Promise.all(targets.map(({ c }) => peek.zscore(`{pdg:${env.GENESYS_CLIENT_ID}:async}:due`, c)))
    return due.every((at) => Number(at) > Date.now() + 5000)
  }
  await until(claimed, Boolean, { what: 'every conversation claimed by A' })
  // And its attempts begun: the first of its requests has reached Genesys (answered 1.5 s later).
  // A claim alone, on a busy machine, may not yet have started any attempt for A to give up.
  await until(() => sim.requests.length, (n) => n > 0, { what: "A's first request to Genesys" })
  a.child.kill('SIGTERM')
  await until(() => a.stdout(), (out) => out.includes('"msg":"shutting down"'), { what: 'A logging its shutdown' })
  const refused = await send(`${a.url}/participants/${id()}/${id()}/data`, 'POST', { attributes: { k: 'v' } }, crm).catch(() => ({ status: 0, body: undefined }))
  t.ok(refused.status === 503 || refused.status === 0, `intake stopped (${refused.status})`)
  // On its own (SHUTDOWN_TIMEOUT_MS ends what is out): one that never exited fails here, not at
  // tap's timeout. That it gave up what was out shows below, in the second replica's attempts.
  const exit = await Promise.race([a.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 30_000).unref())])
  t.not(exit, 'running', 'A exited after SIGTERM')
  t.equal(exit !== 'running' && exit.code, 0)
  const b = await startService(t, both)
  const states = await settle(b.url, answers.map((r) => r.body.id), 60_000)
  t.same([...states.values()].filter((s) => s.state !== 'written'), [], 'every accepted update written, by the replica started afterwards')
  // Those the first replica had started it gave up at shutdown, unsent; the rest it never took.
  t.ok([...states.values()].some((s) => s.attempts >= 2), 'some after an attempt the first replica gave up')
  t.same(targets.filter(({ c, p }) => sim.attributes(c, p)?.k !== c), [], 'and in the simulator')
})

t.test('a conversation claimed by a replica that died is taken over by another when the claim lapses', async (t) => {
  const redis = await startRedis(t)
  const stack = await startStack(t, { env: { REDIS_URL: redis.url } })
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  // What the dead replica got done: the update accepted, its conversation claimed, nothing else.
  const store = new RedisDeliveryStore(client, { prefix: stack.app.services.stores.shared!.prefix, maxAgeMs: 600_000 })
  const c = id()
  const p = id()
  const orphan = { id: id(), caller: '', state: 'queued' as const, conversationId: c, participantId: p, target: { participantId: p }, changes: { orphan: 'x' }, seq: 1, attempts: 0, acceptedAt: Date.now() }
  // Claimed for a second by a replica that then died (written first, so that this service's own poll cannot take it before).
  const due = `{${stack.app.services.stores.shared!.prefix}async}:due`
  await client.zadd(due, Date.now() + 1000, c)
  t.ok(await store.accept(orphan, 100))
  t.ok(Number(await client.zscore(due, c)) > Date.now(), 'the update waits under the dead replica\'s claim')
  // A later update to the same conversation waits for the claim, then goes with the orphan.
  const joined = await stack.post(`/participants/${c}/${p}/data`, { attributes: { joined: 'y' } }, { prefer: 'respond-async' })
  t.equal(joined.status, 202)
  const states = await settle(stack.url, [joined.body.id])
  t.equal(states.get(joined.body.id)?.state, 'written', 'the later update was delivered once the claim lapsed')
  t.same(stack.sim.attributes(c, p), { orphan: 'x', joined: 'y' }, 'and the orphan with it')
  t.equal((await store.get(orphan.id))?.state, 'written')
})
