import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { startSandboxStack } from '../console/stack.ts'
import { id, send, startStack } from '../helpers/stack.ts'

// Issue 33, item 9: the smaller holes. (SIGNATURE_REPLAYED's detail: signature-once.test.ts.)

t.test('an idempotent repeat gets exactly the first answer, whichever Prefer it sends', async (t) => {
  const { app, sim } = await startStack(t)
  const url = `/participants/${id()}/${id()}/data`
  const post = (key: string, prefer?: string) => app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', 'idempotency-key': key, ...(prefer && { prefer }) },
    payload: { attributes: { tier: 'gold' } },
  })

  const sync = await post('first-sync')
  t.equal(sync.statusCode, 200)
  const writes = sim.stats.writes
  const asyncRepeat = await post('first-sync', 'respond-async')
  t.equal(asyncRepeat.statusCode, 200, 'a first synchronous write is answered 200 again, Prefer or not')
  t.equal(asyncRepeat.headers.location, undefined, 'with no Location (it was /updates/undefined)')
  t.equal(asyncRepeat.headers['preference-applied'], undefined, 'and the preference not applied')
  t.equal(asyncRepeat.headers['idempotent-replayed'], 'true')
  t.same(asyncRepeat.json(), sync.json())
  t.equal(sim.stats.writes, writes, 'nothing written again')

  const accepted = await post('first-async', 'respond-async')
  t.equal(accepted.statusCode, 202)
  t.match(accepted.headers.location, /^\/updates\/[0-9a-f-]{36}$/)
  const syncRepeat = await post('first-async')
  t.equal(syncRepeat.statusCode, 202, 'a first asynchronous 202 is answered 202 again')
  t.equal(syncRepeat.headers.location, accepted.headers.location, 'with its Location')
  t.equal(syncRepeat.headers['preference-applied'], 'respond-async')
  t.same(syncRepeat.json(), accepted.json())
  const asyncAgain = await post('first-async', 'respond-async')
  t.equal(asyncAgain.headers.location, accepted.headers.location, 'and so is an asynchronous repeat')
})

t.test('/docs gets the console\'s Content-Security-Policy and may not be framed', async (t) => {
  const { app } = await startStack(t)
  for (const url of ['/docs', '/docs/static/index.html', '/docs/static/swagger-initializer.js']) {
    const res = await app.inject({ url })
    t.ok(res.statusCode < 400, `${url}: ${res.statusCode}`)
    const csp = String(res.headers['content-security-policy'])
    t.match(csp, "default-src 'none'", `${url}: nothing by default`)
    t.match(csp, "script-src 'self';", `${url}: scripts from this service only`)
    t.match(csp, "frame-ancestors 'none'", `${url}: no framing`)
  }
})

t.test('in sandbox, or without API keys, a Host that is not this service is refused (DNS rebinding)', async (t) => {
  const sandbox = await startSandboxStack(t)
  const port = new URL(sandbox.url).port
  const asHost = (url: string, host: string) => sandbox.app.inject({ url, headers: { host } })
  for (const host of [`rebind.attacker.example:${port}`, 'rebind.attacker.example', `localhost.attacker.example:${port}`]) {
    for (const url of ['/console', `/participants/${id()}/${id()}/data`, '/healthz']) {
      const res = await asHost(url, host)
      t.equal(res.statusCode, 421, `${host} ${url}: refused`)
      t.equal(res.json().code, 'HOST_NOT_ALLOWED')
      t.match(res.headers['content-type'], /problem\+json/)
    }
  }
  const rebound = await sandbox.app.inject({ method: 'POST', url: `/participants/${id()}/${id()}/data`, headers: { host: 'rebind.attacker.example', 'content-type': 'application/json' }, payload: { attributes: { a: '1' } } })
  t.equal(rebound.statusCode, 421, 'nor written to')
  t.equal(sandbox.sim.conversations().length, 0)
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST', `10.0.0.7:${port}`]) {
    t.equal((await asHost('/console', host)).statusCode, 200, `${host}: answered`)
  }
  t.equal((await send(`${sandbox.url}/healthz`, 'GET')).status, 200, 'over the network at its own address')

  const named = await startSandboxStack(t, { PUBLIC_URL: 'https://gateway.example.com' })
  t.equal((await named.app.inject({ url: '/console', headers: { host: 'gateway.example.com' } })).statusCode, 200, 'PUBLIC_URL\'s host is answered')
  t.equal((await named.app.inject({ url: '/console', headers: { host: 'other.example.com' } })).statusCode, 421)

  const keyless = await startStack(t)
  t.equal((await keyless.app.inject({ url: '/healthz', headers: { host: 'rebind.attacker.example' } })).statusCode, 421, 'outside sandbox without API keys too')
  const keyed = await startStack(t, { env: { API_KEYS: 'ops:ops-key-0123456789' } })
  t.equal((await keyed.app.inject({ url: '/healthz', headers: { host: 'gateway.internal' } })).statusCode, 200, 'with keys (outside sandbox) any Host: a key is what stands in the way')
})

t.test('outside sandbox, /genesys/data-action?baseUrl= names only PUBLIC_URL or the request\'s own origin', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'ops:ops-key-0123456789' } })
  const auth = { 'x-api-key': 'ops-key-0123456789' }
  const other = await send(`${url}/genesys/data-action?attributes=tier&baseUrl=https://attacker.example`, 'GET', undefined, auth)
  t.equal(other.status, 400)
  t.equal(other.body.code, 'INVALID_QUERY')
  t.equal(other.body.errors[0].path, '/baseUrl')
  t.equal((await send(`${url}/genesys/data-action?attributes=tier&baseUrl=${encodeURIComponent(url)}`, 'GET', undefined, auth)).status, 200, 'its own origin')
  const sandbox = await startSandboxStack(t)
  t.equal((await send(`${sandbox.url}/genesys/data-action?attributes=tier&baseUrl=https://tunnel.example`, 'GET')).status, 200, 'sandbox: any (a tunnel to a laptop)')
})

t.test('API_KEYS with one key under two names stops start-up, as the keys file does', async (t) => {
  const err = (() => { try { loadConfig({ API_KEYS: 'crm:same-key-0123456789,flow:same-key-0123456789' }) } catch (e) { return e } })()
  t.type(err, ConfigError)
  t.match((err as ConfigError).problems, [/API_KEYS: "flow" has the same key as "crm"/])
  t.notMatch((err as ConfigError).message, 'same-key-0123456789', 'the key is not echoed')
})
