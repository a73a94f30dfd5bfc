import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { startService } from '../helpers/process.ts'
import { startReceiver, whsec } from '../helpers/receiver.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startReplicas, TEST_READ_LAG_MS, until, type Teardown } from '../helpers/stack.ts'

const KEY = 'crm-key-0123456789abcdef'
const crm = { 'x-api-key': KEY, prefer: 'respond-async' }

function keysFile (dir: string, url: string, secret: string): string {
  const file = join(dir, 'keys.yaml')
  writeFileSync(file, `keys:\n  - name: crm\n    key: ${KEY}\n    callbackUrl: ${url}\n    callbackSecret: ${secret}\n`)
  return file
}

async function simulator (t: Teardown) {
  const clientId = `callbacks-${id()}`
  const sim = buildSimulator({ clientId, clientSecret: 's', readLagMs: TEST_READ_LAG_MS })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  return { sim, env: { GENESYS_CLIENT_ID: clientId, GENESYS_CLIENT_SECRET: 's', GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_RATE_LIMIT_PER_MINUTE: '1000000' } }
}

t.test('with Redis, two replicas: each event is sent once, and either replica shows its callback delivered', async (t) => {
  const redis = await startRedis(t)
  const secret = whsec()
  const receiver = await startReceiver(t, secret)
  const env = { REDIS_URL: redis.url, API_KEYS_FILE: keysFile(t.testdir(), receiver.url, secret), CALLBACK_ALLOW_PRIVATE: '1' }
  const [a, b] = await startReplicas(t, { env })
  const ids: string[] = []
  for (let i = 0; i < 20; i++) ids.push((await (i % 2 ? a : b).post(`/participants/${id()}/${id()}/data`, { attributes: { k: String(i) } }, crm)).body.id)
  await until(() => receiver.received.length, (n) => n >= 20, { what: '20 events' })
  for (const u of ids) {
    const s = await until(() => send(`${a.url}/updates/${u}`, 'GET', undefined, { 'x-api-key': KEY }), (x) => x.body.callback?.state === 'delivered', { what: `${u} delivered` })
    t.match(s.body, { state: 'written', callback: { state: 'delivered', attempts: 1 } })
  }
  t.same(receiver.received.map((r) => r.event.data.id).sort(), [...ids].sort(), 'each once: no replica sent one the other had claimed')
  t.same(receiver.refused, [])
})

t.test('a replica SIGKILLed mid-callback (the update settled, the event sent, no answer yet) loses no event: another sends it, same webhook-id', async (t) => {
  const redis = await startRedis(t)
  const { sim, env } = await simulator(t)
  const secret = whsec()
  // The first request is held unanswered: the replica that sent it dies waiting.
  const receiver = await startReceiver(t, secret, (n) => (n === 0 ? 'hang' : 204))
  const both = { ...env, REDIS_URL: redis.url, API_KEYS_FILE: keysFile(t.testdir(), receiver.url, secret), CALLBACK_ALLOW_PRIVATE: '1' }
  const a = await startService(t, both)
  const c = id()
  const p = id()
  const accepted = await send(`${a.url}/participants/${c}/${p}/data`, 'POST', { attributes: { crm_case: 'C-7' } }, crm)
  t.equal(accepted.status, 202)
  let held = 0
  receiver.server.on('request', () => held++)
  await until(() => held, (n) => n >= 1, { what: 'the first callback to arrive (and be held)' })
  t.equal(sim.attributes(c, p)?.crm_case, 'C-7', 'settled written before the kill')
  const b = await startService(t, both)
  a.child.kill('SIGKILL')
  await a.exited
  // Its claim lapses with its 30 s lease; then B sends the event.
  const s = await until(() => send(`${b.url}/updates/${accepted.body.id}`, 'GET', undefined, { 'x-api-key': KEY }), (x) => x.body.callback?.state === 'delivered', { what: 'the callback delivered by the other replica', withinMs: 60_000 })
  t.match(s.body, { state: 'written', callback: { state: 'delivered' } })
  t.equal(receiver.received.length, 1, 'delivered once the other replica sent it')
  t.equal(receiver.received[0]!.headers['webhook-id'], `msg_${accepted.body.id}`, 'the id the first attempt had: the receiver can dedupe')
  t.equal(held, 2, 'the event was sent twice in all: at least once')
})
