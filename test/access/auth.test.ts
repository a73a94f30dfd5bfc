import Fastify from 'fastify'
import t from 'tap'
import { request } from 'undici'
import auth from '../../src/access/auth.ts'
import problems from '../../src/http/problems.ts'

const keys = [
  { name: 'crm', key: 'crm-key-0123456789', priority: 'bulk' as const },
  { name: 'flow', key: 'flow-key-0123456789', priority: 'live' as const },
]

/** The plugin alone, on a real server: one route answering who the caller is. */
async function serve (t: { teardown(fn: () => unknown): void }, options = { keys }) {
  const app = Fastify()
  await app.register(problems)
  await app.register(auth, options)
  app.get('/who', async (req) => ({ caller: req.caller ?? null, priority: req.priority }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return async (headers: Record<string, string>) => {
    const res = await request(`${url}/who`, { headers })
    return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as any }
  }
}

const basic = (user: string, pass: string) => ({ authorization: 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64') })

t.test('each of the three ways to present a key names the caller and its priority', async (t) => {
  const who = await serve(t)
  t.same((await who({ authorization: 'Bearer crm-key-0123456789' })).body, { caller: 'crm', priority: 'bulk' }, 'Authorization: Bearer')
  t.same((await who({ authorization: 'bearer flow-key-0123456789' })).body, { caller: 'flow', priority: 'live' }, 'the scheme in any case')
  t.same((await who({ 'x-api-key': 'flow-key-0123456789' })).body, { caller: 'flow', priority: 'live' }, 'X-API-Key')
  t.same((await who(basic('any-user', 'crm-key-0123456789'))).body, { caller: 'crm', priority: 'bulk' }, 'Basic, key as the password')
  t.same((await who(basic('', 'crm-key-0123456789'))).body.caller, 'crm', 'Basic with an empty user name')
})

t.test('no key or a wrong key: 401 UNAUTHORIZED naming the schemes that work', async (t) => {
  const who = await serve(t)
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no key', {}, /send an API key as "Authorization: Bearer KEY"/],
    ['wrong bearer key', { authorization: 'Bearer nope' }, /not one this service knows/],
    ['wrong X-API-Key', { 'x-api-key': 'nope' }, /not one this service knows/],
    ['Basic with the key as user name', basic('crm-key-0123456789', ''), /not one this service knows/],
    ['Basic without a colon', { authorization: 'Basic ' + Buffer.from('crm-key-0123456789').toString('base64') }, /send an API key/],
    ['another scheme', { authorization: 'Token crm-key-0123456789' }, /send an API key/],
    ['a prefix of a real key', { 'x-api-key': 'crm-key-012345678' }, /not one this service knows/],
    ['a real key with more after it', { 'x-api-key': 'crm-key-0123456789x' }, /not one this service knows/],
  ]
  for (const [name, headers, detail] of cases) {
    const a = await who(headers)
    t.equal(a.status, 401, name)
    t.match(a.body, { code: 'UNAUTHORIZED', detail }, name)
    t.equal(a.headers['www-authenticate'], 'Bearer, Basic realm="participant-data"', `${name}: WWW-Authenticate`)
    t.match(a.headers['content-type'], /^application\/problem\+json/)
  }
})

t.test('an X-API-Key wins over an Authorization header', async (t) => {
  const who = await serve(t)
  t.equal((await who({ 'x-api-key': 'flow-key-0123456789', authorization: 'Bearer crm-key-0123456789' })).body.caller, 'flow')
})

t.test('without API_KEYS authentication is off and every caller is live', async (t) => {
  const who = await serve(t, { keys: [] })
  const a = await who({})
  t.equal(a.status, 200)
  t.same(a.body, { caller: null, priority: 'live' })
})
