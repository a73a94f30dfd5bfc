import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { SimulatorOptions } from '../../src/sim/simulator.ts'
import { loadConfig, type ConfigError } from '../../src/config.ts'
import { startReceiver, whsec } from '../helpers/receiver.ts'
import { id, send, startStack, until, type Stack } from '../helpers/stack.ts'

const CRM_KEY = 'crm-key-0123456789abcdef'
const PLAIN_KEY = 'plain-key-0123456789abcdef'
const crm = { 'x-api-key': CRM_KEY, prefer: 'respond-async' }

/** A keys file: crm has a callback to `url`, plain has none. */
function keysFile (dir: string, url: string, secret: string): string {
  const file = join(dir, 'keys.yaml')
  writeFileSync(file, `keys:
  - name: crm
    key: ${CRM_KEY}
    callbackUrl: ${url}
    callbackSecret: ${secret}
  - name: plain
    key: ${PLAIN_KEY}
`)
  return file
}

async function withReceiver (t: Test, opts: { sim?: SimulatorOptions; env?: Record<string, string>; answer?: Parameters<typeof startReceiver>[2] } = {}) {
  const secret = whsec()
  const receiver = await startReceiver(t, secret, opts.answer)
  const stack = await startStack(t, { sim: opts.sim, env: { API_KEYS_FILE: keysFile(t.testdir(), receiver.url, secret), CALLBACK_ALLOW_PRIVATE: '1', ...opts.env } })
  return { receiver, stack, secret }
}

const status = (stack: Stack, location: string, key = CRM_KEY) => send(stack.url + location, 'GET', undefined, { 'x-api-key': key })

/** GET's answer once the update's callback has left pending. */
const calledBack = (stack: Stack, location: string) => until(() => status(stack, location), (s) => s.body?.callback?.state !== undefined && s.body.callback.state !== 'pending', { what: `the callback of ${location} to leave pending` })

t.test('a written update is called back once, signed, with the update exactly as GET shows it; GET shows the callback delivered', async (t) => {
  const { receiver, stack } = await withReceiver(t)
  const c = id()
  const p = id()
  const a = await stack.post(`/participants/${c}/${p}/data`, { attributes: { crm_case: 'C-1042' } }, crm)
  t.equal(a.status, 202)
  const s = await calledBack(stack, a.headers.location as string)
  t.match(s.body.callback, { state: 'delivered', attempts: 1 })
  t.ok(Date.parse(s.body.callback.deliveredAt) > 0)
  t.equal(receiver.received.length, 1, 'one event')
  t.same(receiver.refused, [], 'every request verified with the standardwebhooks package')
  const [r] = receiver.received
  t.equal(r!.event.type, 'update.written')
  t.equal(r!.headers['webhook-id'], `msg_${a.body.id}`)
  t.equal(r!.headers['content-type'], 'application/json')
  const { callback, ...update } = s.body
  t.same(r!.event.data, update, 'data is the update as GET /updates/{id} answers it (its callback state aside)')
  t.equal(r!.event.timestamp, update.settledAt, 'the event\'s time is when the update settled')
  t.ok(Math.abs(Number(r!.headers['webhook-timestamp']) - Date.now() / 1000) < 30)
  const metrics = await fetch(stack.url + '/metrics').then((res) => res.text())
  t.match(metrics, /pdg_callbacks_sent_total 1/)
  t.match(metrics, /pdg_callbacks_pending 0/)
})

t.test('a failed update is called back update.failed with its error: PARTICIPANT_NOT_FOUND', async (t) => {
  const { receiver, stack } = await withReceiver(t, { sim: { strict: true } })
  const c = id()
  stack.sim.seed({ id: c, participants: [{ id: id(), purpose: 'agent' }] })
  const gone = await stack.post(`/conversations/${c}/data`, { attributes: { k: 'v' } }, crm)
  const s = await calledBack(stack, gone.headers.location as string)
  t.match(s.body, { state: 'failed', error: { code: 'PARTICIPANT_NOT_FOUND' }, callback: { state: 'delivered', attempts: 1 } })
  const event = receiver.received.find((r) => r.event.data.id === gone.body.id)!.event
  t.equal(event.type, 'update.failed')
  t.match(event.data, { state: 'failed', error: { code: 'PARTICIPANT_NOT_FOUND', status: 404 } })
  t.equal(event.data.callback, undefined)
})

t.test('an update that expires is called back update.failed DELIVERY_EXPIRED', async (t) => {
  const { receiver, stack } = await withReceiver(t, { sim: { faults: { serverErrorRate: 1 } }, env: { ASYNC_MAX_AGE_MS: '1000' } })
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  const s = await calledBack(stack, a.headers.location as string)
  t.match(s.body, { state: 'failed', error: { code: 'DELIVERY_EXPIRED' }, callback: { state: 'delivered' } })
  t.match(receiver.received.map((r) => r.event), [{ type: 'update.failed', data: { id: a.body.id, error: { code: 'DELIVERY_EXPIRED' } } }])
})

t.test('updates folded into one write are each called back, each with its own webhook-id', async (t) => {
  const { receiver, stack } = await withReceiver(t, { sim: { faults: { latencyMs: { min: 200, max: 200 } } } })
  const c = id()
  const p = id()
  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push((await stack.post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: String(i) } }, crm)).body.id)
  await until(() => receiver.received.length, (n) => n >= 5, { what: 'five events' })
  t.ok(stack.sim.stats.writes < 5, `folded: ${stack.sim.stats.writes} writes for 5 updates`)
  t.same(receiver.received.map((r) => r.event.data.id).sort(), [...ids].sort())
  t.same(receiver.received.map((r) => r.headers['webhook-id']).sort(), ids.map((i) => `msg_${i}`).sort())
})

t.test('a key without a callbackUrl is not called back, and GET shows no callback', async (t) => {
  const { receiver, stack } = await withReceiver(t)
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, { 'x-api-key': PLAIN_KEY, prefer: 'respond-async' })
  const s = await until(() => status(stack, a.headers.location as string, PLAIN_KEY), (x) => x.body.state === 'written')
  t.equal(s.body.callback, undefined)
  t.equal(receiver.received.length, 0)
})

t.test('a pending callback shows its last status and next attempt; a 410 stops the key\'s callbacks', async (t) => {
  let answer = 503
  const { receiver, stack } = await withReceiver(t, { answer: () => answer })
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  const s = await until(() => status(stack, a.headers.location as string), (x) => x.body.callback?.attempts >= 1)
  t.match(s.body.callback, { state: 'pending', attempts: 1, lastStatus: 503, lastError: 'answered 503' })
  t.ok(Date.parse(s.body.callback.nextAttemptAt) - Date.parse(s.body.callback.lastAttemptAt) >= 4900, 'the next attempt 5 s later')
  answer = 410
  const b = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'w' } }, crm)
  const gone = await calledBack(stack, b.headers.location as string)
  t.match(gone.body.callback, { state: 'failed', lastStatus: 410 })
  const before = receiver.received.length
  const c = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'x' } }, crm)
  const stopped = await calledBack(stack, c.headers.location as string)
  t.match(stopped.body.callback, { state: 'failed', attempts: 0, lastError: /410 Gone/ })
  t.equal(receiver.received.length, before, 'not called after the 410')
})

t.test('callback URLs are checked at start-up: https outside sandbox, no private address, both fields, a whsec_ secret', async (t) => {
  const dir = t.testdir()
  const problems = (body: string, env: Record<string, string> = {}) => {
    const file = join(dir, `k-${id()}.yaml`)
    writeFileSync(file, `keys:\n  - name: crm\n    key: ${CRM_KEY}\n${body}`)
    try {
      loadConfig({ API_KEYS_FILE: file, GENESYS_CLIENT_ID: 'c', GENESYS_CLIENT_SECRET: 's', GENESYS_REGION: 'us-east-1', ...env })
      return []
    } catch (err) {
      return (err as ConfigError).problems
    }
  }
  const secret = whsec()
  t.match(problems(`    callbackUrl: http://crm.example.com/hooks\n    callbackSecret: ${secret}\n`), [/entry "crm": callbackUrl: must be https outside sandbox mode/])
  t.same(problems(`    callbackUrl: http://crm.example.com/hooks\n    callbackSecret: ${secret}\n`, { CALLBACK_ALLOW_PRIVATE: '1' }), [], 'CALLBACK_ALLOW_PRIVATE=1 allows http')
  t.same(problems(`    callbackUrl: https://crm.example.com/hooks\n    callbackSecret: ${secret}\n`), [])
  t.match(problems('    callbackUrl: https://crm.example.com/hooks\n'), [/callbackUrl and callbackSecret: give both or neither/])
  const bad = problems('    callbackUrl: https://crm.example.com/hooks\n    callbackSecret: not-a-whsec-secret-at-all\n')
  t.match(bad, [/callbackSecret: must be a Standard Webhooks secret/])
  t.notMatch(bad.join(' '), /not-a-whsec/, 'the secret is never echoed')
  t.match(problems(`    callbackUrl: https://user:pw@crm.example.com/hooks\n    callbackSecret: ${secret}\n`), [/must not hold a user name or password/])

  // Resolved at start-up: a name that leads inside is refused, naming the key.
  const file = join(dir, 'private.yaml')
  writeFileSync(file, `keys:\n  - name: crm\n    key: ${CRM_KEY}\n    callbackUrl: https://localhost:8443/hooks\n    callbackSecret: ${secret}\n`)
  await t.rejects(startStack(t, { env: { API_KEYS_FILE: file } }), /entry "crm": callbackUrl: localhost resolves to [^ ]+, a loopback, link-local or private address/)
  const literal = join(dir, 'literal.yaml')
  writeFileSync(literal, `keys:\n  - name: crm\n    key: ${CRM_KEY}\n    callbackUrl: https://169.254.169.254/latest\n    callbackSecret: ${secret}\n`)
  await t.rejects(startStack(t, { env: { API_KEYS_FILE: literal } }), /169\.254\.169\.254 is a loopback, link-local or private address/)
})

t.test('a failed update sent again is called back too, its event naming retryOf', async (t) => {
  const { receiver, stack } = await withReceiver(t, { sim: { strict: true } })
  const c = id()
  const customer = id()
  stack.sim.seed({ id: c, participants: [{ id: id(), purpose: 'agent' }] })
  const gone = await stack.post(`/conversations/${c}/data`, { attributes: { k: 'v' } }, crm)
  await calledBack(stack, gone.headers.location as string)
  stack.sim.seed({ id: c, participants: [{ id: id(), purpose: 'agent' }, { id: customer, purpose: 'customer' }] })
  const again = await stack.post(`/updates/${gone.body.id}/retry`, undefined, { 'x-api-key': CRM_KEY })
  t.equal(again.status, 202)
  const s = await calledBack(stack, again.headers.location as string)
  t.match(s.body, { state: 'written', retryOf: gone.body.id, callback: { state: 'delivered' } })
  t.match(receiver.received.map((r) => [r.event.type, r.event.data.id, r.event.data.retryOf]), [['update.failed', gone.body.id, undefined], ['update.written', again.body.id, gone.body.id]])
})
