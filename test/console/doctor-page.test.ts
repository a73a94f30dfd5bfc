import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSandboxStack } from './stack.ts'
import { startStack } from '../helpers/stack.ts'

// The console's going-live page: the doctor's report, for looking at rather than reading JSON.

const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() })

t.test('sandbox: the checks, linked from the console, and a probe of a conversation put back as it was', async (t) => {
  const { url, sim } = await startSandboxStack(t)
  t.match(await (await fetch(`${url}/console`)).text(), '<a href="/console/doctor">Going-live checks</a>')
  const page = await fetch(`${url}/console/doctor`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-security-policy'), /default-src 'none'/, 'no asset from another host')
  const html = await page.text()
  t.match(html, /<h2 id="checks-h">All \d+ checks passed<\/h2>/)
  t.match(html, '<tr><th scope="row">OAuth client</th><td class="state state-written">ok</td>')
  t.match(html, '<strong id="doctor-semantics">unknown</strong>')

  const made = await form(`${url}/console/conversations`, {})
  const c = made.headers.get('location')!.split('/').pop()!
  const customer = sim.conversation(c)!.participants[0]!
  customer.attributes = { tier: 'gold' }
  const probed = await form(`${url}/console/doctor`, { conversation: c, participant: customer.id })
  t.equal(probed.status, 200)
  const result = await probed.text()
  t.match(result, '<strong id="doctor-semantics">merge</strong>')
  t.match(result, 'GENESYS_WRITE_MODE=patch halves Genesys requests per write')
  t.same(sim.attributes(c, customer.id), { tier: 'gold', pdg_doctor_probe_1: '', pdg_doctor_probe_2: '' })
  t.equal((await form(`${url}/console/doctor`, { conversation: 'nope', participant: customer.id })).status, 400)
})

t.test('CONSOLE=1: behind the API keys, and a failing check shown as failed', async (t) => {
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS: 'ops:ops-key-0123456789abcdefghij' } })
  const anonymous = await fetch(`${stack.url}/console/doctor`, { redirect: 'manual' })
  t.equal(anonymous.status, 303)
  t.equal(anonymous.headers.get('location'), '/console/sign-in?next=%2Fconsole%2Fdoctor')
  t.equal((await form(`${stack.url}/console/doctor`, { conversation: crypto.randomUUID(), participant: crypto.randomUUID() })).status, 401)
  const signedIn = await form(`${stack.url}/console/sign-in`, { key: 'ops-key-0123456789abcdefghij', next: '/console/doctor' })
  const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!
  const html = await (await fetch(`${stack.url}/console/doctor`, { headers: { cookie } })).text()
  t.match(html, '<tr><th scope="row">PUBLIC_URL</th><td class="state state-failed">failed</td><td>not set:')
  t.match(html, /<h2 id="checks-h">1 of \d+ checks failed<\/h2>/)
})

t.test('the probe writes attributes of its own: a console key limited to some attributes may not ask for it', async (t) => {
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, 'keys:\n  - name: flow\n    key: "flow-key-0123456789abcdef"\n    may: [write, read, console]\n    attributes: ["flow_*"]\n')
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS_FILE: file } })
  const signedIn = await form(`${stack.url}/console/sign-in`, { key: 'flow-key-0123456789abcdef', next: '/console/doctor' })
  const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!
  const c = crypto.randomUUID()
  const p = crypto.randomUUID()
  const probe = await form(`${stack.url}/console/doctor`, { conversation: c, participant: p }, { cookie })
  t.equal(probe.status, 403)
  t.match(await probe.text(), 'OPERATION_NOT_ALLOWED')
  t.equal(stack.sim.stats.writes, 0, 'nothing was written to the call')
})
