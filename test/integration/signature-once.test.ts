import t, { type Test } from 'tap'
import { Webhook } from 'standardwebhooks'
import { sign } from '../../src/access/signature.ts'
import { id, startStack, type Stack } from '../helpers/stack.ts'
import { FakeClock } from '../helpers/clock.ts'

// Issue 33, item 1 (and item 9's SIGNATURE_REPLAYED detail): a signature counts once, whatever
// the headers it does not cover say. An Idempotency-Key may narrow it, never open a second use.

const secret = 'signing-secret-0123456789abcdef'
const whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const env = { API_KEYS: 'crm:crm-key:bulk,hooks:hooks-key', SIGNING_SECRETS: `crm:${secret},hooks:${whsec}` }
const NOW_S = 1_800_000_000
const deps = { clock: new FakeClock(NOW_S * 1000) }
const bodyOf = (tier: string) => JSON.stringify({ attributes: { tier } })

type Signer = (body: string, at: number, n: number) => Record<string, string>
const xSignature: Signer = (body, at) => ({ 'x-api-key': 'crm-key', 'x-signature': sign(secret, body, at) })
const standardWebhooks: Signer = (body, at, n) => ({
  'x-api-key': 'hooks-key',
  'webhook-id': `msg_${n}`,
  'webhook-timestamp': String(at),
  'webhook-signature': new Webhook(whsec).sign(`msg_${n}`, new Date(at * 1000), body),
})

async function oldValueStaysOld (t: Test, stack: Stack, signed: Signer) {
  const { sim } = stack
  const c = id()
  const p = id()
  const url = `/participants/${c}/${p}/data`
  const captured = signed(bodyOf('silver'), NOW_S - 20, 1)
  t.equal((await stack.post(url, bodyOf('silver'), captured)).status, 200, 'the sender writes silver')
  t.equal((await stack.post(url, bodyOf('gold'), signed(bodyOf('gold'), NOW_S - 10, 2))).status, 200, 'then gold, signed anew')
  const writes = sim.stats.writes

  for (const key of ['replay-1', 'replay-2']) {
    const replay = await stack.post(url, bodyOf('silver'), { ...captured, 'idempotency-key': key })
    t.equal(replay.status, 401, `the captured silver request sent again with Idempotency-Key ${key}: refused`)
    t.equal(replay.body.code, 'SIGNATURE_REPLAYED')
    t.notMatch(replay.body.detail, /\/participants|\/conversations/, 'the problem does not say where the signature was first used')
  }
  const prefer = await stack.post(url, bodyOf('silver'), { ...captured, 'idempotency-key': 'replay-3', prefer: 'respond-async' })
  t.equal(prefer.status, 401, 'nor asynchronously')
  t.equal(sim.stats.writes, writes, 'nothing was written')
  t.same(sim.attributes(c, p), { tier: 'gold' }, 'the newer value stands')

  const retry = await stack.post(url, bodyOf('silver'), captured)
  t.equal(retry.status, 200, 'the byte-identical request, with the headers it first had')
  t.equal(retry.headers['idempotent-replayed'], 'true', 'gets the first answer')
  t.equal(sim.stats.writes, writes, 'without writing')
  t.same(sim.attributes(c, p), { tier: 'gold' })
}

t.test('X-Signature: a captured request with a new Idempotency-Key writes nothing', async (t) => {
  await oldValueStaysOld(t, await startStack(t, { env, deps }), xSignature)
})

t.test('Standard Webhooks: a captured message with a new Idempotency-Key writes nothing', async (t) => {
  await oldValueStaysOld(t, await startStack(t, { env, deps }), standardWebhooks)
})

t.test('a signature first sent with an Idempotency-Key is bound to it: without it, or with another, it is refused; with it, the first answer', async (t) => {
  const stack = await startStack(t, { env, deps })
  const url = `/participants/${id()}/${id()}/data`
  const headers = { ...xSignature(bodyOf('gold'), NOW_S - 5, 1), 'idempotency-key': 'order-77' }
  const first = await stack.post(url, bodyOf('gold'), headers)
  t.equal(first.status, 200)
  const writes = stack.sim.stats.writes
  const { 'idempotency-key': _, ...without } = headers
  t.equal((await stack.post(url, bodyOf('gold'), without)).body.code, 'SIGNATURE_REPLAYED', 'without the key')
  t.equal((await stack.post(url, bodyOf('gold'), { ...headers, 'idempotency-key': 'order-78' })).body.code, 'SIGNATURE_REPLAYED', 'with another')
  const again = await stack.post(url, bodyOf('gold'), headers)
  t.equal(again.status, 200)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.same(again.body, first.body)
  t.equal(stack.sim.stats.writes, writes, 'written once')

  // Narrowing: the same Idempotency-Key with a new signature of the same body is the same request.
  const resigned = await stack.post(url, bodyOf('gold'), { ...xSignature(bodyOf('gold'), NOW_S - 1, 2), 'idempotency-key': 'order-77' })
  t.equal(resigned.status, 200)
  t.equal(resigned.headers['idempotent-replayed'], 'true', 'a sender that signs its retry anew, with the same key, gets the first answer')
  t.equal(stack.sim.stats.writes, writes)
})

t.test('SIGNATURE_REPLAYED does not say where the signature was first used', async (t) => {
  const stack = await startStack(t, { env, deps })
  const c = id()
  const headers = xSignature(bodyOf('gold'), NOW_S - 5, 1)
  t.equal((await stack.post(`/participants/${c}/${id()}/data?dryRun=false`, bodyOf('gold'), headers)).status, 200)
  const elsewhere = await stack.post(`/conversations/${id()}/data`, bodyOf('gold'), headers)
  t.equal(elsewhere.body.code, 'SIGNATURE_REPLAYED')
  t.notMatch(JSON.stringify(elsewhere.body), c, 'neither the first conversation')
  t.notMatch(JSON.stringify(elsewhere.body), '/participants/', 'nor the first path')
  t.match(elsewhere.body.detail, 'already used for another request')
})

t.test('a byte-identical retry after a failed attempt is written, once', async (t) => {
  const stack = await startStack(t, { env, deps, sim: { strict: true } })
  const c = id()
  const p = id()
  const url = `/participants/${c}/${p}/data`
  const headers = xSignature(bodyOf('gold'), NOW_S - 5, 1)
  t.equal((await stack.post(url, bodyOf('gold'), headers)).status, 404, 'the first attempt fails: nothing written')
  stack.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer' }] })
  const retry = await stack.post(url, bodyOf('gold'), headers)
  t.equal(retry.status, 200, 'the same bytes again are written')
  t.equal(retry.headers['idempotent-replayed'], undefined)
  const writes = stack.sim.stats.writes
  t.equal((await stack.post(url, bodyOf('gold'), headers)).headers['idempotent-replayed'], 'true', 'and after that success, replayed')
  t.equal(stack.sim.stats.writes, writes)
})
