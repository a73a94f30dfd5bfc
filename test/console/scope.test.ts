import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { sign } from '../../src/access/signature.ts'
import { id, send, startStack, until, type Stack } from '../helpers/stack.ts'
import { startSandboxStack } from './stack.ts'

// Issue 33, items 2 and 3: the console honours `read`, the key's patterns, `write` and signing.

const KEYS = `keys:
  - name: admin
    key: "admin-key-0123456789abcdef"
  - name: signer
    key: "signer-key-0123456789abcdef"
  - name: crm
    key: "crm-key-0123456789abcdef"
    may: [console, write]
    attributes: ["crm_*"]
  - name: viewer
    key: "viewer-key-0123456789abcdef"
    may: [console, read]
`
const SECRET = 'signer-secret-0123456789abcdef'

function keysFile (t: Test): string {
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, KEYS)
  return file
}

const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() })

async function signIn (url: string, name: string): Promise<string> {
  const res = await form(`${url}/console/sign-in`, { key: `${name}-key-0123456789abcdef`, next: '/console' })
  return res.headers.get('set-cookie')!.split(';')[0]!
}

/** A conversation with crm_id and ssn written through the API by admin. */
async function written (stack: { url: string }, c: string, p: string) {
  const res = await fetch(`${stack.url}/participants/${c}/${p}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'admin-key-0123456789abcdef' },
    body: JSON.stringify({ attributes: { crm_id: 'C-1', ssn: '078-05-1120' } }),
  })
  if (res.status !== 200) throw new Error(`setup write: ${res.status}`)
}

t.test('a console key sees values only if it may read, and names, writers and times only where its patterns match', async (t) => {
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS_FILE: keysFile(t) } })
  const c = id()
  const p = id()
  await written(stack, c, p)

  const crm = await signIn(stack.url, 'crm')
  const state: any = await (await fetch(`${stack.url}/console/conversations/${c}/state`, { headers: { cookie: crm } })).json()
  const mine = state.participants.find((x: { id: string }) => x.id === p)
  t.same(mine.attributes, { crm_id: null }, 'crm (may console, write; crm_*): crm_id named, its value not shown; ssn not at all')
  t.same(Object.keys(state.writers[p]), ['crm_id'], 'the writer and time of crm_id only: not of ssn')
  const page = await (await fetch(`${stack.url}/console/conversations/${c}`, { headers: { cookie: crm } })).text()
  t.notMatch(page, 'ssn', 'the page does not name ssn')
  t.notMatch(page, '078-05-1120', 'nor show its value')
  t.notMatch(page, 'C-1', 'nor crm_id\'s, which crm may not read')
  t.match(page, 'hidden: this key may not read')
  t.match(page, 'id="write"', 'crm may write: the form is there')

  const viewer = await signIn(stack.url, 'viewer')
  const seen: any = await (await fetch(`${stack.url}/console/conversations/${c}/state`, { headers: { cookie: viewer } })).json()
  t.same(seen.participants.find((x: { id: string }) => x.id === p).attributes, { crm_id: 'C-1', ssn: '078-05-1120' }, 'a key that may read sees the values')
  const viewerPage = await (await fetch(`${stack.url}/console/conversations/${c}`, { headers: { cookie: viewer } })).text()
  t.notMatch(viewerPage, 'id="write"', 'a key that may not write sees no write form')
  t.notMatch(viewerPage, 'id="curl"', 'nor the curl that would write')
  t.match(viewerPage, 'This key may not write')
})

t.test('in sandbox, a key that may not write cannot make or end simulated calls', async (t) => {
  const stack = await startSandboxStack(t, { API_KEYS_FILE: keysFile(t) })
  const viewer = await signIn(stack.url, 'viewer')
  const index = await (await fetch(`${stack.url}/console`, { headers: { cookie: viewer } })).text()
  t.notMatch(index, 'action="/console/conversations"', 'no "New conversation" button')
  const make = await form(`${stack.url}/console/conversations`, {}, { cookie: viewer })
  t.equal(make.status, 403)
  t.equal((await make.json() as any).code, 'OPERATION_NOT_ALLOWED')
  t.equal(stack.sim.conversations().length, 0, 'nothing was made')

  const admin = await signIn(stack.url, 'admin')
  const made = await form(`${stack.url}/console/conversations`, {}, { cookie: admin })
  const c = made.headers.get('location')!.split('/').pop()!
  const page = await (await fetch(`${stack.url}/console/conversations/${c}`, { headers: { cookie: viewer } })).text()
  t.notMatch(page, `action="/console/conversations/${c}/end"`, 'no "End" button for the viewer')
  const end = await form(`${stack.url}/console/conversations/${c}/end`, {}, { cookie: viewer })
  t.equal(end.status, 403)
  t.equal(stack.sim.conversation(c)!.endTime, undefined, 'the call goes on')
})

async function probeAs (stack: Stack, cookie: string, c: string, p: string) {
  return form(`${stack.url}/console/doctor`, { conversation: c, participant: p }, { cookie })
}

t.test('the doctor\'s probe is refused to a key that must sign, and the checks are shown only to a key that may write every attribute', async (t) => {
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS_FILE: keysFile(t), SIGNING_SECRETS: `signer:${SECRET}` } })
  const c = id()
  const p = id()
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  t.equal((await fetch(`${stack.url}/participants/${c}/${p}/data`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'signer-key-0123456789abcdef', 'x-signature': sign(SECRET, body) }, body })).status, 200)
  const writes = stack.sim.stats.writes

  const signer = await signIn(stack.url, 'signer')
  const probe = await probeAs(stack, signer, c, p)
  t.equal(probe.status, 403, 'signer must sign its writes: the probe\'s unsigned writes are refused')
  t.match(await probe.text(), 'OPERATION_NOT_ALLOWED')
  t.equal(stack.sim.stats.writes, writes, 'nothing was written to the call')
  t.same(stack.sim.attributes(c, p), { tier: 'gold' })

  const crm = await signIn(stack.url, 'crm')
  t.equal((await fetch(`${stack.url}/console/doctor`, { headers: { cookie: crm } })).status, 403, 'a key limited to crm_* does not see the checks')
  t.notMatch(await (await fetch(`${stack.url}/console`, { headers: { cookie: crm } })).text(), 'href="/console/doctor"', 'nor a link to them')
  const viewer = await signIn(stack.url, 'viewer')
  t.equal((await fetch(`${stack.url}/console/doctor`, { headers: { cookie: viewer } })).status, 403, 'nor one that may not write')
  const admin = await signIn(stack.url, 'admin')
  t.equal((await fetch(`${stack.url}/console/doctor`, { headers: { cookie: admin } })).status, 200, 'admin does')
  t.match(await (await fetch(`${stack.url}/console`, { headers: { cookie: admin } })).text(), 'href="/console/doctor"')
})

t.test('the checks fetch no token on every load: one a minute, whoever loads them', async (t) => {
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS_FILE: keysFile(t) } })
  const admin = await signIn(stack.url, 'admin')
  const before = stack.sim.stats.tokenRequests
  for (let i = 0; i < 4; i++) t.equal((await fetch(`${stack.url}/console/doctor`, { headers: { cookie: admin } })).status, 200)
  t.equal(stack.sim.stats.tokenRequests - before, 1, 'four loads, one token')
})

t.test('the probe goes through the request budget as any write: with none left it writes nothing', async (t) => {
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS_FILE: keysFile(t), GENESYS_RATE_LIMIT_PER_MINUTE: '10' } })
  const c = id()
  const p = id()
  // The org's limit read at start-up (one unit), four writes (a read and a PATCH each) and a
  // read-back: the minute's budget of 10 is spent.
  await until(() => stack.sim.stats.limitReads === 1)
  for (let i = 0; i < 4; i++) await written(stack, c, p)
  t.equal((await send(`${stack.url}/participants/${c}/${p}/data`, 'GET', undefined, { 'x-api-key': 'admin-key-0123456789abcdef' })).status, 200)
  const writes = stack.sim.stats.writes
  const admin = await signIn(stack.url, 'admin')
  const probe = await probeAs(stack, admin, c, p)
  t.equal(probe.status, 200)
  const html = await probe.text()
  t.match(html, '<strong id="doctor-semantics">unknown</strong>', 'no answer: the budget had no room')
  t.match(html, 'RATE_BUDGET_EXHAUSTED', 'and the page says why')
  t.equal(stack.sim.stats.writes, writes, 'no probe key was written around the budget')
  t.same(stack.sim.attributes(c, p), { crm_id: 'C-1', ssn: '078-05-1120' })
})

t.test('with budget, the probe goes through the service\'s own pipeline (its Genesys requests are the service\'s)', async (t) => {
  const stack = await startStack(t, { env: { CONSOLE: '1', API_KEYS_FILE: keysFile(t) } })
  const c = id()
  const p = id()
  await written(stack, c, p)
  const count = async () => {
    const text = await (await fetch(`${stack.url}/metrics`)).text()
    return [...text.matchAll(/pdg_genesys_request_duration_seconds_count\{operation="patchAttributes",status="2\d\d"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
  }
  const before = await count()
  const admin = await signIn(stack.url, 'admin')
  const html = await (await probeAs(stack, admin, c, p)).text()
  t.match(html, '<strong id="doctor-semantics">merge</strong>')
  t.equal(await count() - before, 3, 'two probe writes and the one putting the participant back, counted as the service\'s own')
  t.same(stack.sim.attributes(c, p), { crm_id: 'C-1', ssn: '078-05-1120', pdg_doctor_probe_1: '', pdg_doctor_probe_2: '' })
})
