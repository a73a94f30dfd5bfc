import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { sandboxBanner } from '../../src/sim/sandbox.ts'
import { startSandboxStack } from './stack.ts'

// Issue 36, item 8: what the console and the sandbox banner say matches how the service was started.

const KEY = 'ops-key-0123456789abcdef0123'

t.test('authentication off: the updates shown are not called the key\'s', async (t) => {
  const { url } = await startSandboxStack(t)
  const index = await (await fetch(`${url}/console`)).text()
  t.match(index, 'Updates sent without an API key (authentication is off), sent with <code>Prefer: respond-async</code>')
  const made = await fetch(`${url}/console/conversations`, { method: 'POST', redirect: 'manual' })
  const page = await (await fetch(url + made.headers.get('location')!)).text()
  t.match(page, 'Updates sent without an API key (authentication is off) to this conversation')
  t.notMatch(index + page, 'Your key', 'no key is signed in, and none is needed')
})

t.test('authentication on: the signed-in key\'s own updates', async (t) => {
  const { url } = await startSandboxStack(t, { API_KEYS: `ops:${KEY}` })
  const signedIn = await fetch(`${url}/console/sign-in`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key: KEY, next: '/console' }).toString(),
  })
  const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!
  t.match(await (await fetch(`${url}/console`, { headers: { cookie } })).text(), 'Your key\'s updates, sent with <code>Prefer: respond-async</code>')
})

t.test('the sandbox banner names where the keys come from', async (t) => {
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, `keys:\n  - name: ops\n    key: ${KEY}\n`)
  const fromFile = sandboxBanner(loadConfig({ API_KEYS_FILE: file }), 'http://127.0.0.1:3000')
  t.match(fromFile, 'Callers must send one of the keys in API_KEYS_FILE.')
  t.notMatch(fromFile, 'one of API_KEYS.')
  t.match(sandboxBanner(loadConfig({ API_KEYS: `ops:${KEY}` }), 'http://127.0.0.1:3000'), 'Callers must send one of the keys in API_KEYS.')
  t.match(sandboxBanner(loadConfig({}), 'http://127.0.0.1:3000'), 'API_KEYS is not set either: caller authentication is OFF.')
})
