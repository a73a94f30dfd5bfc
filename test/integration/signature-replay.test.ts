import t, { type Test } from 'tap'
import { Webhook } from 'standardwebhooks'
import { sign } from '../../src/access/signature.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, startReplicas, startStack, type Stack } from '../helpers/stack.ts'
import { FakeClock } from '../helpers/clock.ts'

const secret = 'signing-secret-0123456789abcdef'
const whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const env = { API_KEYS: 'crm:crm-key:bulk,hooks:hooks-key', SIGNING_SECRETS: `crm:${secret},hooks:${whsec}` }
/** "Now", fixed: the signatures are fresh for the whole test and no window depends on the wall clock. */
const NOW_S = 1_800_000_000
const deps = { clock: new FakeClock(NOW_S * 1000) }
const body = JSON.stringify({ attributes: { refund: 'approved' } })

/** Every way a captured request could be sent elsewhere: another participant, the conversation route, a dry run. */
function elsewhere (c: string) {
  const other = id()
  return [`/participants/${other}/${id()}/data`, `/conversations/${other}/data`, `/conversations/${c}/data`, `/participants/${c}/${id()}/data`]
}

async function replayedNowhere (t: Test, stacks: Stack[], headers: Record<string, string>, c: string, p: string) {
  const { sim } = stacks[0]!
  const first = await stacks[0]!.post(`/participants/${c}/${p}/data`, body, headers)
  t.equal(first.status, 200, 'the signed request is written')
  const writes = sim.stats.writes
  for (const [i, url] of [...elsewhere(c), `/participants/${c}/${p}/data?dryRun=true`].entries()) {
    const replay = await stacks[i % stacks.length]!.post(url, body, headers)
    t.equal(replay.status, 401, `replayed onto ${url.replace(/[0-9a-f-]{36}/g, ':id')}: refused`)
    t.equal(replay.body.code, 'SIGNATURE_REPLAYED')
  }
  t.equal(sim.stats.writes, writes, 'no replay wrote anything')
  t.equal(sim.conversations().length, 1, 'no other conversation was even created')

  const retry = await stacks[stacks.length - 1]!.post(`/participants/${c}/${p}/data`, body, headers)
  t.equal(retry.status, 200, 'a byte-identical retry to the same URL')
  t.equal(retry.headers['idempotent-replayed'], 'true', 'gets the first answer')
  t.same(retry.body, first.body)
  t.equal(sim.stats.writes, writes, 'without writing again')
}

t.test('a captured X-Signature request writes nothing anywhere else', async (t) => {
  const stack = await startStack(t, { env, deps })
  await replayedNowhere(t, [stack], { 'x-api-key': 'crm-key', 'x-signature': sign(secret, body, NOW_S - 10) }, id(), id())
})

t.test('a captured X-Signature with a made-up v1 put before the real one is refused, not counted as new', async (t) => {
  const stack = await startStack(t, { env, deps })
  const c = id()
  const p = id()
  const real = sign(secret, body, NOW_S - 10)
  t.equal((await stack.post(`/participants/${c}/${p}/data`, body, { 'x-api-key': 'crm-key', 'x-signature': real })).status, 200)
  const writes = stack.sim.stats.writes
  const [tPart, v1Part] = real.split(',')
  for (const forged of [`v1=${'0'.repeat(64)},${real}`, `${real},v1=${'1'.repeat(64)}`, `${tPart},${v1Part},t=${NOW_S}`, `${real},x=1`]) {
    const replay = await stack.post(`/conversations/${id()}/data`, body, { 'x-api-key': 'crm-key', 'x-signature': forged })
    t.equal(replay.status, 401, `refused: ${forged.replace(/[0-9a-f]{64}/g, '…')}`)
    t.equal(replay.body.code, 'SIGNATURE_INVALID')
  }
  t.equal(stack.sim.stats.writes, writes, 'and nothing was written')
})

t.test('a captured Standard Webhooks message writes nothing anywhere else, even after its first delivery failed', async (t) => {
  const stack = await startStack(t, { env, deps, sim: { strict: true } })
  const c = id()
  const p = id()
  const headers = { 'x-api-key': 'hooks-key', 'webhook-id': 'msg_1', 'webhook-timestamp': String(NOW_S), 'webhook-signature': new Webhook(whsec).sign('msg_1', new Date(NOW_S * 1000), body) }
  // The first delivery fails (the conversation is not there yet), which frees its idempotency key;
  // the message still belongs to its URL.
  t.equal((await stack.post(`/participants/${c}/${p}/data`, body, headers)).status, 404)
  t.equal((await stack.post(`/participants/${id()}/${id()}/data`, body, headers)).body.code, 'SIGNATURE_REPLAYED', 'not onto another conversation')
  stack.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer' }] })
  await replayedNowhere(t, [stack], headers, c, p)
})

t.test('with Redis, a replay sent to another replica is refused too', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startReplicas(t, { env: { ...env, REDIS_URL: redis.url } })
  // startReplicas has no deps; the wall clock signs, as a sender would.
  const now = Math.floor(Date.now() / 1000)
  await replayedNowhere(t, [a, b], { 'x-api-key': 'crm-key', 'x-signature': sign(secret, body, now) }, id(), id())
})

t.test('the same body signed in another second is another request: senders that sign each request are unaffected', async (t) => {
  const stack = await startStack(t, { env, deps })
  const headers = (at: number) => ({ 'x-api-key': 'crm-key', 'x-signature': sign(secret, body, at) })
  t.equal((await stack.post(`/participants/${id()}/${id()}/data`, body, headers(NOW_S))).status, 200)
  t.equal((await stack.post(`/participants/${id()}/${id()}/data`, body, headers(NOW_S - 1))).status, 200)
  t.equal(stack.sim.stats.writes, 2)
})
