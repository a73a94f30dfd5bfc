import Fastify from 'fastify'
import t from 'tap'
import { request } from 'undici'
import auth from '../../src/access/auth.ts'
import problems from '../../src/http/problems.ts'
import rawJson from '../../src/http/raw-json.ts'
import signature, { sign } from '../../src/access/signature.ts'
import { MemoryReplayStore } from '../../src/coordination/replays.ts'
import { FakeClock } from '../helpers/clock.ts'

const secret = 'signing-secret-0123456789'
const keys = [
  { name: 'crm', key: 'crm-key', priority: 'bulk' as const, signingSecret: secret },
  { name: 'flow', key: 'flow-key', priority: 'live' as const },
]
/** A fixed "now", so that fresh and stale are exact. */
const NOW_S = 1_800_000_000

async function serve (t: { teardown(fn: () => unknown): void }) {
  const app = Fastify()
  await app.register(problems)
  await app.register(rawJson)
  await app.register(auth, { keys })
  const clock = new FakeClock(NOW_S * 1000)
  await app.register(signature, { keys, clock, replays: new MemoryReplayStore(100_000, clock) })
  app.post('/write', async (req) => ({ got: req.body }))
  app.get('/read', async () => ({ ok: true }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return async (method: 'GET' | 'POST', key: string, body?: string, sig?: string) => {
    const headers: Record<string, string> = { 'x-api-key': key, ...(body !== undefined && { 'content-type': 'application/json' }), ...(sig && { 'x-signature': sig }) }
    const res = await request(`${url}/${method === 'GET' ? 'read' : 'write'}`, { method, headers, body })
    return { status: res.statusCode, body: (await res.body.json()) as any }
  }
}

const body = '{"attributes":{"tier":"gold"}}'

t.test('a valid signature over the exact bytes passes', async (t) => {
  const call = await serve(t)
  const a = await call('POST', 'crm-key', body, sign(secret, body, NOW_S))
  t.equal(a.status, 200)
  t.same(a.body.got, JSON.parse(body))
  t.equal((await call('POST', 'crm-key', body, sign(secret, body, NOW_S - 300))).status, 200, 'five minutes old is still fresh')
  t.equal((await call('POST', 'crm-key', body, ` t=${NOW_S} , v1=${sign(secret, body, NOW_S).split('v1=')[1]}`)).status, 200, 'spaces around the parts')
})

t.test('missing, tampered, stale, future or malformed: 401 SIGNATURE_INVALID naming the header', async (t) => {
  const call = await serve(t)
  const good = sign(secret, body, NOW_S)
  const cases: Array<[string, string | undefined, string, RegExp]> = [
    ['missing', undefined, body, /required for API key "crm"/],
    ['tampered body', good, body.replace('gold', 'gilt'), /does not match the body/],
    ['tampered timestamp', good.replace(`t=${NOW_S}`, `t=${NOW_S - 1}`), body, /does not match the body/],
    ['another secret', sign('another-secret-0123456789', body, NOW_S), body, /does not match the body/],
    ['stale', sign(secret, body, NOW_S - 301), body, /more than 300 s away from now/],
    ['from the future', sign(secret, body, NOW_S + 301), body, /more than 300 s away from now/],
    ['no timestamp', `v1=${'0'.repeat(64)}`, body, /must be t=<unix seconds>,v1=<64 hex digits>/],
    ['short signature', `t=${NOW_S},v1=abc`, body, /must be t=<unix seconds>,v1=<64 hex digits>/],
    ['upper-case hex', good.toUpperCase().replace('T=', 't=').replace('V1=', 'v1='), body, /must be t=/],
  ]
  for (const [name, sig, sent, detail] of cases) {
    const a = await call('POST', 'crm-key', sent, sig)
    t.equal(a.status, 401, name)
    t.match(a.body, { code: 'SIGNATURE_INVALID', detail, errors: [{ in: 'header', path: '/x-signature' }] }, name)
  }
})

t.test('reads are exempt, and so are keys without a secret', async (t) => {
  const call = await serve(t)
  t.equal((await call('GET', 'crm-key')).status, 200, 'GET needs no signature')
  t.equal((await call('POST', 'flow-key', body)).status, 200, 'a key without a secret needs none')
  t.equal((await call('POST', 'nobody', body)).status, 401, 'and auth still comes first')
})
