import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { sign } from '../../src/access/signature.ts'
import { id, startStack } from '../helpers/stack.ts'
import { marked, markedShell } from '../helpers/readme.ts'
import { FakeClock } from '../helpers/clock.ts'

// The specification's own example secret: the key is the 24 bytes whose base64 follows whsec_.
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const oldSecret = 'whsec_dGhlLW9sZC1zZWNyZXQtYmVpbmctcm90YXRlZA=='
const env = { API_KEYS: 'crm:crm-key:bulk,legacy:legacy-key', SIGNING_SECRETS: `crm:${secret},legacy:plain-secret-0123456789` }
/** A sender using the reference library, as Svix and the senders built on it do. */
const sender = new Webhook(secret)
const nowS = () => Math.floor(Date.now() / 1000)

function signed (body: string, msgId: string, opts: { at?: number, signature?: string } = {}) {
  const at = opts.at ?? nowS()
  return {
    'x-api-key': 'crm-key',
    'webhook-id': msgId,
    'webhook-timestamp': String(at),
    'webhook-signature': opts.signature ?? sender.sign(msgId, new Date(at * 1000), body),
  }
}

t.test('a Standard Webhooks sender is accepted, and a redelivery of the same message writes once', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })

  const first = await post(url, body, signed(body, 'msg_1'))
  t.equal(first.status, 200, 'signed by the reference library: accepted')
  t.equal(first.body.attributes.tier, 'gold')
  t.equal(first.headers['idempotent-replayed'], undefined)
  t.equal(sim.stats.writes, 1)

  // Senders redeliver a message with the same id, signed anew with a later timestamp.
  const again = await post(url, body, signed(body, 'msg_1', { at: nowS() + 5 }))
  t.equal(again.status, 200)
  t.equal(again.headers['idempotent-replayed'], 'true', 'answered as a repeated Idempotency-Key')
  t.same(again.body, first.body, 'with the first answer')
  t.equal(sim.stats.writes, 1, 'and not written again')

  const other = JSON.stringify({ attributes: { tier: 'silver' } })
  const reused = await post(url, other, signed(other, 'msg_1'))
  t.equal(reused.status, 422, 'the same id with another body is refused')
  t.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED')
  t.match(reused.body.detail, /this webhook-id was used for a different request/)

  const next = await post(url, other, signed(other, 'msg_2'))
  t.equal(next.status, 200, 'a new message id is a new write')
  t.equal(sim.stats.writes, 2)
})

t.test('Idempotency-Key narrows webhook-id when both are sent, and never opens a second use of it', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  t.equal((await post(url, body, { ...signed(body, 'msg_a'), 'idempotency-key': 'key-1' })).status, 200)
  const sameKey = await post(url, body, { ...signed(body, 'msg_b'), 'idempotency-key': 'key-1' })
  t.equal(sameKey.headers['idempotent-replayed'], 'true', 'same Idempotency-Key, new webhook-id: replayed')
  const sameId = await post(url, body, { ...signed(body, 'msg_a'), 'idempotency-key': 'key-2' })
  t.equal(sameId.status, 401, 'same webhook-id, new Idempotency-Key: refused (issue 33)')
  t.equal(sameId.body.code, 'SIGNATURE_REPLAYED')
  t.equal(sim.stats.writes, 1)
})

t.test('webhook-id is held to what an Idempotency-Key may be', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  for (const bad of ['msg with spaces', 'm'.repeat(256)]) {
    const a = await post(url, body, signed(body, bad))
    t.equal(a.status, 400, 'signed, but not a usable id')
    t.match(a.body, { code: 'INVALID_HEADER', errors: [{ in: 'header', path: '/webhook-id' }] })
  }
  t.equal(sim.stats.writes, 0)
})

t.test('tampered, stale, future, unsigned, malformed or wrongly keyed: 401 SIGNATURE_INVALID naming the header', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  const byOld = new Webhook(oldSecret).sign('msg_x', new Date(nowS() * 1000), body)
  const { 'webhook-signature': _, ...noSignature } = signed(body, 'msg_x')
  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    ['tampered body', signed(body.replace('gold', 'gilt'), 'msg_x'), '/webhook-signature', /no signature matches/],
    ['tampered id', { ...signed(body, 'msg_x'), 'webhook-id': 'msg_y' }, '/webhook-signature', /no signature matches/],
    ['signed with another secret', signed(body, 'msg_x', { signature: byOld }), '/webhook-signature', /no signature matches/],
    ['six minutes old', signed(body, 'msg_x', { at: nowS() - 360 }), '/webhook-timestamp', /more than 300 s in the past/],
    ['six minutes ahead', signed(body, 'msg_x', { at: nowS() + 360 }), '/webhook-timestamp', /more than 300 s in the future/],
    ['timestamp not in seconds', { ...signed(body, 'msg_x'), 'webhook-timestamp': '2026-11-30T12:00:00Z' }, '/webhook-timestamp', /must be unix seconds/],
    ['no signature header', noSignature, '/webhook-signature', /missing/],
    ['no v1 entry', signed(body, 'msg_x', { signature: 'v1a,abc v2,def' }), '/webhook-signature', /has no v1,<base64/],
    ['unsigned', { 'x-api-key': 'crm-key' }, '/x-signature', /required for API key "crm": X-Signature: .* or .*webhook-signature/],
    ['a key whose secret is not whsec_', { ...signed(body, 'msg_x'), 'x-api-key': 'legacy-key' }, '/webhook-signature', /has no whsec_ secret/],
  ]
  for (const [name, headers, path, detail] of cases) {
    const a = await post(url, body, headers)
    t.equal(a.status, 401, name)
    t.equal(a.body.code, 'SIGNATURE_INVALID', name)
    t.match(a.body.detail, detail, name)
    t.equal(a.body.errors[0].path, path, name)
  }
  const unsigned = await post(url, body, { 'x-api-key': 'crm-key' })
  t.same(unsigned.body.errors.map((e: { path: string }) => e.path), ['/x-signature', '/webhook-signature'], 'unsigned names both ways')
  t.equal(sim.stats.writes, 0, 'none of them was written')
})

t.test('rotation: any one valid signature in the list passes', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  const at = nowS()
  const byOld = new Webhook(oldSecret).sign('msg_r', new Date(at * 1000), body)
  const byNew = sender.sign('msg_r', new Date(at * 1000), body)
  const rotated = await post(url, body, signed(body, 'msg_r', { at, signature: `${byOld} ${byNew}` }))
  t.equal(rotated.status, 200, 'the old secret\'s first, the valid one second: accepted')
  const unknownFirst = await post(url, body, signed(body, 'msg_s', { at, signature: `v1a,c29tZXRoaW5n ${sender.sign('msg_s', new Date(at * 1000), body)}` }))
  t.equal(unknownFirst.status, 200, 'entries of other versions are skipped')
  const bothWrong = await post(url, body, signed(body, 'msg_t', { at, signature: `${byOld} ${byOld}` }))
  t.equal(bothWrong.status, 401, 'none valid: refused')
  t.equal(sim.stats.writes, 2)
})

t.test('X-Signature keeps working, for a whsec_ secret too (as the text it is)', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  t.equal((await post(url, body, { 'x-api-key': 'crm-key', 'x-signature': sign(secret, body) })).status, 200, 'whsec_ key with X-Signature')
  t.equal((await post(url, body, { 'x-api-key': 'legacy-key', 'x-signature': sign('plain-secret-0123456789', body) })).status, 200, 'plain key with X-Signature')
  const both = await post(url, body, { ...signed(body, 'msg_z'), 'x-signature': sign('wrong-secret-0123456789', body) })
  t.equal(both.status, 401, 'X-Signature, when sent, is the scheme checked')
  t.equal(both.body.errors[0].path, '/x-signature')
  t.equal(sim.stats.writes, 2)
})

t.test("the README's Standard Webhooks example is what the reference library signs, and this service accepts", async (t) => {
  const example = (await marked('standard-webhooks-example')).split('```')[1]
  t.ok(example, 'the README has the example')
  const field = (name: string) => example!.match(new RegExp(`^${name} +(.+)$`, 'm'))?.[1]
  const [readmeSecret, msgId, timestamp, body, toSign, header] = ['SIGNING_SECRETS', 'webhook-id', 'webhook-timestamp', 'body', 'signed', 'webhook-signature'].map(field)
  t.equal(readmeSecret, `crm:${secret}`)
  t.equal(toSign, `${msgId}.${timestamp}.${body}`, 'what is signed')
  t.equal(header, sender.sign(msgId!, new Date(Number(timestamp) * 1000), body!), 'the signature shown is the reference library\'s')
  // Accepted by the service when "now" is the example's time.
  const { post } = await startStack(t, { env, deps: { clock: new FakeClock(Number(timestamp) * 1000 + 1000) } })
  const a = await post(`/participants/${id()}/${id()}/data`, body, { 'x-api-key': 'crm-key', 'webhook-id': msgId!, 'webhook-timestamp': timestamp!, 'webhook-signature': header! })
  t.equal(a.status, 200)
})

t.test("the README's Standard Webhooks snippet, pasted into a shell, gets a signed write through", async (t) => {
  const block = await markedShell('standard-webhooks-example')
  t.ok(block, 'the README has the snippet')
  const key = block!.match(/\bKEY=(\S+)/)?.[1]
  t.equal(block!.match(/\bSECRET=(\S+)/)?.[1], secret, 'signing with the example secret')
  const { url, sim } = await startStack(t, { env: { API_KEYS: `crm:${key}`, SIGNING_SECRETS: `crm:${secret}` } })
  const run = block!.replace('GATEWAY=http://127.0.0.1:3000', `GATEWAY=${url}`)
  t.not(run, block, 'the snippet sets GATEWAY to the default address')
  // Nothing from the test's environment: every variable the snippet uses, it sets.
  const { stdout } = await promisify(execFile)('sh', ['-euc', run], { env: { PATH: process.env.PATH } })
  t.equal(JSON.parse(stdout).attributes?.tier, 'gold', 'written, with the signature checked')
  t.equal(sim.stats.writes, 1)
})
