import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { startSandboxStack } from '../console/stack.ts'
import { cliWith } from '../data-action/cli-process.ts'
import { send, startStack } from '../helpers/stack.ts'

// PUBLIC_URL: behind a TLS-terminating proxy, what Genesys and browsers must call.

const PUBLIC = 'https://gateway.example.com'
const form = (url: string, fields: Record<string, string>) =>
  fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() })

t.test('the Data Action route exports PUBLIC_URL (a trailing / dropped), with no warning', async (t) => {
  const stack = await startStack(t, { env: { PUBLIC_URL: `${PUBLIC}/` } })
  const json = await send(`${stack.url}/genesys/data-action?attributes=tier`, 'GET')
  t.equal(json.status, 200)
  t.equal(json.body.config.request.requestUrlTemplate, `${PUBLIC}/participants/$esc.url(\${input.conversationId})/$esc.url(\${input.participantId})/data`)
  t.equal(json.headers['data-action-warning'], undefined)
  const given = await send(`${stack.url}/genesys/data-action?attributes=tier&baseUrl=https://other.example.com`, 'GET')
  t.equal(given.status, 400, 'an explicit baseUrl elsewhere is refused outside sandbox (issue 33)')
  t.match(given.body.detail, `must be this service's own address: ${PUBLIC}`)
  const same = await send(`${stack.url}/genesys/data-action?attributes=tier&baseUrl=${PUBLIC}/`, 'GET')
  t.equal(same.status, 200, 'PUBLIC_URL itself may be given')
})

t.test('outside sandbox without PUBLIC_URL the export says it guessed: a header on JSON, a comment in Terraform', async (t) => {
  const stack = await startStack(t)
  const json = await send(`${stack.url}/genesys/data-action?attributes=tier`, 'GET')
  t.equal(json.status, 200)
  t.match(json.body.config.request.requestUrlTemplate, `${stack.url}/participants/`)
  t.match(json.headers['data-action-warning'], `PUBLIC_URL is not set, so the URL in this Data Action (${stack.url}) was guessed`)
  t.same(Object.keys(json.body).sort(), ['actionType', 'config', 'contract', 'integrationType', 'name'], 'the import JSON keeps only Genesys\'s fields')
  const tf = await fetch(`${stack.url}/genesys/data-action?attributes=tier&format=terraform`)
  t.match(await tf.text(), /^# WARNING: PUBLIC_URL is not set/)
})

t.test('sandbox guesses quietly: the URL the person used is the right one there', async (t) => {
  const { url } = await startSandboxStack(t)
  const json = await send(`${url}/genesys/data-action?attributes=tier`, 'GET')
  t.equal(json.headers['data-action-warning'], undefined)
  t.match(json.body.config.request.requestUrlTemplate, `${url}/participants/`)
})

t.test('anything but an absolute http(s) URL stops start-up, naming PUBLIC_URL', async (t) => {
  for (const bad of ['gateway.example.com', '/gateway', 'ftp://gateway.example.com', 'https://user:pw@gateway.example.com', 'https://gateway.example.com/?x=1']) {
    const problems = (() => {
      try {
        loadConfig({ PUBLIC_URL: bad })
        return []
      } catch (err) {
        return err instanceof ConfigError ? err.problems : []
      }
    })()
    t.match(problems, [/^PUBLIC_URL: must be an absolute http\(s\) URL/], bad)
  }
  t.equal(loadConfig({ PUBLIC_URL: 'http://gw.internal:8080/pdg/' }).publicUrl, 'http://gw.internal:8080/pdg', 'a path prefix is kept')
  t.equal(loadConfig({ PUBLIC_URL: '' }).publicUrl, undefined, 'empty is unset')
})

t.test('console: an https PUBLIC_URL makes the session cookie Secure, and its export names PUBLIC_URL', async (t) => {
  const env = { CONSOLE: '1', API_KEYS: 'ops:ops-key-1234567890' }
  const plain = await startStack(t, { env })
  const insecure = await form(`${plain.url}/console/sign-in`, { key: 'ops-key-1234567890', next: '/console' })
  t.notMatch(insecure.headers.get('set-cookie'), /Secure/, 'over plain http with no PUBLIC_URL, no Secure (the browser would drop it)')
  const session = { cookie: insecure.headers.get('set-cookie')!.split(';')[0]! }
  const guessed = await (await fetch(`${plain.url}/console/conversations/${crypto.randomUUID()}`, { headers: session })).text()
  t.match(guessed, 'PUBLIC_URL is not set: the URL in these downloads is guessed', 'the conversation page says the export guessed')

  const proxied = await startStack(t, { env: { ...env, PUBLIC_URL: PUBLIC } })
  const signedIn = await form(`${proxied.url}/console/sign-in`, { key: 'ops-key-1234567890', next: '/console' })
  const cookie = signedIn.headers.get('set-cookie')!
  t.match(cookie, /; Secure/)
  const exported = await fetch(`${proxied.url}/console/data-action?attributes=tier`, { headers: { cookie: cookie.split(';')[0]! } })
  t.equal(exported.status, 200)
  t.match((await exported.json()).config.request.requestUrlTemplate, new RegExp(`^${PUBLIC}/participants/`))
  const page = await (await fetch(`${proxied.url}/console/conversations/${crypto.randomUUID()}`, { headers: { cookie: cookie.split(';')[0]! } })).text()
  t.notMatch(page, 'PUBLIC_URL is not set')
})

t.test('the CLI defaults --base-url to PUBLIC_URL and refuses a bad one by name', async (t) => {
  const out = await cliWith({ PUBLIC_URL: PUBLIC }, '--attributes', 'tier')
  t.equal(out.code, 0)
  t.match(JSON.parse(out.stdout).config.request.requestUrlTemplate, new RegExp(`^${PUBLIC}/participants/`))
  const bad = await cliWith({ PUBLIC_URL: 'gateway.example.com' }, '--attributes', 'tier')
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^PUBLIC_URL: must be an absolute http\(s\) URL/m)
  t.equal(bad.stdout, '')
})
