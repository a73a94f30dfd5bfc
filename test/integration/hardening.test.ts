import { Writable } from 'node:stream'
import { setImmediate } from 'node:timers/promises'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startStack } from '../helpers/stack.ts'

const credentials = { GENESYS_CLIENT_ID: 'c', GENESYS_CLIENT_SECRET: 's', GENESYS_REGION: 'us-east-1' }

t.test('CONSOLE=1 outside sandbox with no API key is refused at start-up', async (t) => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env)
      return []
    } catch (err) {
      return (err as ConfigError).problems
    }
  }
  t.match(problems({ ...credentials, CONSOLE: '1' }), [/^CONSOLE: 1 outside sandbox mode needs API_KEYS or API_KEYS_FILE/])
  t.same(problems({ ...credentials, CONSOLE: '1', API_KEYS: 'crm:crm-key' }), [], 'with keys it starts')
  t.same(problems({ CONSOLE: '1' }), [], 'sandbox mode has its console without keys')
})

t.test('console forms from another site are refused beside SameSite=Strict; a key that must sign is told so', async (t) => {
  const { app, sim } = await startStack(t, { env: { CONSOLE: '1', API_KEYS: 'ops:ops-key-0123456789,crm:crm-key-0123456789', SIGNING_SECRETS: 'crm:signing-secret-0123456789' } })
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer' }] })
  const signIn = (key: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/console/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: `key=${key}&next=/console` })
  const cookieOf = async (key: string) => ((await signIn(key, { 'sec-fetch-site': 'same-origin' })).headers['set-cookie'] as string).split(';')[0]!
  const write = (cookie: string, headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: `/console/conversations/${c}/participants/${p}/data`, headers: { cookie, 'content-type': 'application/json', ...headers }, payload: '{"attributes":{"tier":"gold"}}' })

  const cookie = await cookieOf('ops-key-0123456789')
  const crossSite: Array<Record<string, string>> = [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }, { origin: 'null' }]
  for (const headers of crossSite) {
    const a = await write(cookie, headers)
    t.equal(a.statusCode, 403, JSON.stringify(headers))
    t.equal(a.json().code, 'CROSS_SITE_REQUEST')
  }
  t.equal((await signIn('ops-key-0123456789', { 'sec-fetch-site': 'cross-site' })).statusCode, 403, 'nor a sign-in from another site')
  t.equal(sim.stats.writes, 0, 'nothing written')
  t.equal((await write(cookie, { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:80' })).statusCode, 200, 'the console\'s own page writes')
  t.equal((await write(cookie, { origin: 'http://localhost:80' })).statusCode, 200, 'an Origin of this host without Sec-Fetch-Site too')

  const signing = await cookieOf('crm-key-0123456789')
  const page = await app.inject({ url: `/console/conversations/${c}`, headers: { cookie: signing } })
  t.match(page.body, 'Writes with API key &quot;crm&quot; must be signed', 'the page says why it cannot write')
  t.match(page.body, '<button type="submit" disabled>Set</button>')
  const refused = await write(signing, { 'sec-fetch-site': 'same-origin' })
  t.equal(refused.statusCode, 403)
  t.match(refused.json(), { code: 'OPERATION_NOT_ALLOWED', detail: /must be signed/ })
  t.equal(sim.stats.writes, 2)
})

t.test('a Redis failure is described in our words, and /readyz says it is not ready', async (t) => {
  const redis = await startRedis(t)
  const { post, url } = await startStack(t, { env: { REDIS_URL: redis.url } })
  t.equal((await post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } })).status, 200)
  await redis.cut()
  const a = await post(`/participants/${id()}/${id()}/data?dryRun=false`, { attributes: { a: 'b' } })
  t.equal(a.status, 503)
  t.equal(a.body.code, 'COORDINATION_UNAVAILABLE')
  t.notMatch(a.body.detail, /Stream|enableOfflineQueue|ECONN|ioredis|writeable/i, `no client internals: ${a.body.detail}`)
  t.notMatch(a.body.instance, '?', 'instance carries no query')
  const ready = await send(`${url}/readyz?probe=1`, 'GET')
  t.equal(ready.status, 503)
  t.equal(ready.body.title, 'Not ready to take writes')
  t.equal(ready.body.instance, '/readyz')
  t.notMatch(ready.body.detail, /Stream|enableOfflineQueue/)
  await redis.restore()
})

t.test('IDEMPOTENCY_KEY_IN_FLIGHT names the header sent', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 2000 } })
  const path = `/participants/${id()}/${id()}/data`
  for (const header of ['webhook-id', 'Idempotency-Key']) {
    const key = { [header.toLowerCase()]: `key-${header}` }
    const first = post(path, { attributes: { tier: 'gold' } }, key)
    while (sim.stats.writesInFlight === 0) await setImmediate()
    const repeat = await post(path, { attributes: { tier: 'gold' } }, { ...key, 'x-request-timeout-ms': '500' })
    t.equal(repeat.body.code, 'IDEMPOTENCY_KEY_IN_FLIGHT')
    t.match(repeat.body.detail, `a request with this ${header} is still being written`)
    t.equal((await first).status, 200)
  }
})

t.test('problem instance and the request log carry no query string', async (t) => {
  const lines: string[] = []
  const logStream = new Writable({
    write (chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const { post } = await startStack(t, { env: { LOG_LEVEL: 'info' }, deps: { logStream } })
  const path = `/participants/${id()}/${id()}/data`
  const a = await post(`${path}?secret=sent-by-mistake`, { attributes: { a: 'b' } })
  t.equal(a.body.code, 'INVALID_QUERY')
  t.equal(a.body.instance, path)
  const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
  t.equal(logged.length, 1)
  t.equal(logged[0].url, path)
  t.notMatch(lines.join('\n'), 'sent-by-mistake')
})
