import { Writable } from 'node:stream'
import t from 'tap'
import { id, send, startStack } from '../helpers/stack.ts'
import { startSandboxStack } from './stack.ts'

// The console over plain HTTP (the browser test drives the same pages in Chromium).

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { redirect: 'manual', headers })
const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() })
const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

t.test('sandbox: list, make a conversation, write through the API, see who wrote what', async (t) => {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const { url, sim } = await startSandboxStack(t, { LOG_LEVEL: 'info' }, { logStream })

  const empty = await get(`${url}/console`)
  t.equal(empty.status, 200)
  t.match(empty.headers.get('content-type'), /^text\/html/)
  t.match(empty.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/, 'no asset from another host')
  t.match(await empty.text(), /No conversations yet/)

  const made = await form(`${url}/console/conversations`, {})
  t.equal(made.status, 303)
  const page = made.headers.get('location')!
  const conversationId = page.split('/').pop()!
  const c = sim.conversation(conversationId)!
  t.same(c.participants.map((p) => p.purpose), ['customer', 'agent'], 'a customer and an agent')
  const [customer, agent] = c.participants

  // A made-up conversation written through the API also appears, and newest first.
  const other = id()
  t.equal((await send(`${url}/conversations/${other}/data`, 'POST', { attributes: { a: '1' } })).status, 200)
  const listing = await (await get(`${url}/console`)).text()
  t.ok(listing.indexOf(other) > 0 && listing.indexOf(other) < listing.indexOf(conversationId), 'newest first')

  const html = await (await get(url + page)).text()
  t.match(html, `<h2 id="p-${customer!.id}">customer <code>${customer!.id}</code></h2>`)
  t.match(html, `agent <code>${agent!.id}</code>`)
  t.match(html, /<label>Attribute name <input name="attr"/, 'labelled form')

  const write = await postJson(`${url}${page}/participants/${customer!.id}/data`, { attributes: { tier: 'secret-gold-value' } })
  t.equal(write.status, 200)
  t.same((await write.json() as any).updated, ['tier'])
  t.same(sim.attributes(conversationId, customer!.id), { tier: 'secret-gold-value' }, 'written to the simulator')

  const bad = await postJson(`${url}${page}/participants/${customer!.id}/data`, { attributes: { 'my key': 'x' } })
  t.equal(bad.status, 400)
  t.match(bad.headers.get('content-type'), /application\/problem\+json/)
  const direct = await send(`${url}/participants/${conversationId}/${customer!.id}/data`, 'POST', { attributes: { 'my key': 'x' } })
  t.same({ ...(await bad.json() as any), instance: undefined }, { ...direct.body, instance: undefined }, 'the API\'s own problem, as it is')

  const state: any = await (await get(`${url}${page}/state`)).json()
  t.same(state.participants.find((p: { id: string }) => p.id === customer!.id).attributes, { tier: 'secret-gold-value' })
  t.equal(state.writers[customer!.id].tier.caller, 'anonymous (authentication off)')

  const action = await get(`${url}/console/data-action?attributes=tier`)
  t.equal(action.status, 200)
  t.match(action.headers.get('content-disposition'), /attachment; filename="data-action.json"/)
  t.equal((await action.json() as any).integrationType, 'custom-rest-actions')

  const ops = await (await get(`${url}/console`)).text()
  t.match(ops, /<code>INVALID_BODY<\/code><\/th><td>2<\/td>/, 'error codes from the metrics registry')

  const unknown = id()
  const missing = await get(`${url}/console/conversations/${unknown}`)
  t.equal(missing.status, 404)
  t.match(await missing.text(), /<h1>No such conversation<\/h1>/)
  t.equal((await get(`${url}/console/conversations/${unknown}/state`)).status, 404)
  t.equal(sim.conversation(unknown), undefined, 'looking does not make one up')

  const live: any = await (await get(`${url}/console/ops`)).json()
  t.same(live.errors, [{ code: 'INVALID_BODY', count: 2 }, { code: 'CONVERSATION_NOT_FOUND', count: 1 }], 'most frequent first')
  t.same(live.queue, { updates: 0, conversations: 0 })

  const openapi = await (await get(`${url}/openapi.json`)).text()
  t.notMatch(openapi, '/console', 'the console is not part of the API description')
  t.notMatch(lines.join(''), 'secret-gold-value', 'no value in any log line')
  t.match(lines.join(''), /"url":"\/console\/conversations\/[^"]+\/participants\/[^"]+\/data"/, 'the console\'s own requests are logged, without values')
})

t.test('outside sandbox: off unless CONSOLE=1', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'crm:crm-key-123' } })
  const res = await get(`${url}/console`)
  t.equal(res.status, 404)
})

t.test('outside sandbox with CONSOLE=1: refuses without a valid key; a signed-in key writes as itself', async (t) => {
  const stack = await startStack(t, { sim: { strict: true }, env: { CONSOLE: '1', API_KEYS: 'crm:crm-key-123,flow:flow-key-456' } })
  const { url, sim } = stack
  const conversationId = id()
  const participantId = id()
  sim.seed({ id: conversationId, participants: [{ id: participantId, purpose: 'customer' }] })
  const page = `${url}/console/conversations/${conversationId}`

  const anonymous = await get(page)
  t.equal(anonymous.status, 303, 'a page sends the person to sign in')
  t.equal(anonymous.headers.get('location'), `/console/sign-in?next=${encodeURIComponent(`/console/conversations/${conversationId}`)}`)
  t.equal((await get(`${page}/state`)).status, 401, 'data is refused')
  t.equal((await postJson(`${page}/participants/${participantId}/data`, { attributes: { a: '1' } })).status, 401, 'writes are refused')
  t.equal((await get(`${url}/console/data-action?attributes=a`)).status, 401)
  t.equal((await get(`${url}/console/ops`)).status, 401)
  t.equal((await get(`${page}/state`, { authorization: 'Bearer crm-key-123' })).status, 401, 'the console takes its session, not an API header')

  const signIn = await get(`${url}/console/sign-in`)
  t.equal(signIn.status, 200)
  t.match(await signIn.text(), /<label for="key">API key<\/label><br><input id="key" name="key" type="password"/)
  const wrong = await form(`${url}/console/sign-in`, { key: 'not-a-key', next: '/console' })
  t.equal(wrong.status, 401)
  t.equal(wrong.headers.get('set-cookie'), null)

  const ok = await form(`${url}/console/sign-in`, { key: 'crm-key-123', next: `/console/conversations/${conversationId}` })
  t.equal(ok.status, 303)
  t.equal(ok.headers.get('location'), `/console/conversations/${conversationId}`)
  const setCookie = ok.headers.get('set-cookie')!
  t.match(setCookie, /HttpOnly/)
  t.match(setCookie, /SameSite=Strict/)
  t.notMatch(setCookie, 'crm-key-123', 'the key is not in the cookie')
  const cookie = setCookie.split(';')[0]!

  const forged = cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))
  t.equal((await get(`${page}/state`, { cookie: forged })).status, 401, 'a tampered cookie is refused')
  const otherName = cookie.replace(/=[^.]+/, `=${Buffer.from('flow').toString('base64url')}`)
  t.equal((await get(`${page}/state`, { cookie: otherName })).status, 401, 'a cookie cannot be moved to another key name')

  const html = await (await get(page, { cookie })).text()
  t.match(html, `customer <code>${participantId}</code>`, 'read through the service from "Genesys"')
  t.match(html, /crm<\/span> <button type="submit">Sign out/)

  t.equal((await postJson(`${page}/participants/${participantId}/data`, { attributes: { tier: 'gold' } }, { cookie })).status, 200)
  t.equal((await send(`${url}/participants/${conversationId}/${participantId}/data`, 'POST', { attributes: { crm_id: '42' } }, { authorization: 'Bearer flow-key-456' })).status, 200)
  const state: any = await (await get(`${page}/state`, { cookie })).json()
  t.same(state.participants[0].attributes, { tier: 'gold', crm_id: '42' }, 'both writes show at once: a write through the service drops the cached read')
  t.equal(state.writers[participantId].tier.caller, 'crm', 'the console write went with the signed-in key')
  t.equal(state.writers[participantId].crm_id.caller, 'flow', 'and the API write names its key')

  const reads = sim.stats
  const before = JSON.stringify(reads)
  await get(`${page}/state`, { cookie })
  await get(`${page}/state`, { cookie })
  t.equal(JSON.stringify(sim.stats), before, 'polls within 2 s reuse one read')

  const index = await (await get(`${url}/console`, { cookie })).text()
  t.match(index, /<label for="open-id">Conversation id<\/label>/, 'outside sandbox: open a conversation by id, no list')
  t.notMatch(index, 'New conversation')
  const opened = await get(`${url}/console/open?id=${conversationId.toUpperCase()}`, { cookie })
  t.equal(opened.headers.get('location'), `/console/conversations/${conversationId}`)
  t.equal((await get(`${url}/console/open?id=nope`, { cookie })).status, 400)
  t.equal((await form(`${url}/console/conversations`, {}, { cookie })).status, 404, 'conversations are made only in sandbox')
  const notInGenesys = await get(`${url}/console/conversations/${id()}`, { cookie })
  t.equal(notInGenesys.status, 404)
  t.match(await notInGenesys.text(), 'CONVERSATION_NOT_FOUND', 'Genesys\'s answer, as the read path gives it')

  const out = await form(`${url}/console/sign-out`, {}, { cookie })
  t.match(out.headers.get('set-cookie'), /Max-Age=0/)
})

t.test("sandbox: a flow's write behind the gateway's back, from the conversation page, and the gateway keeps it", async (t) => {
  const { url, sim } = await startSandboxStack(t, {})
  const made = await form(`${url}/console/conversations`, {})
  const page = made.headers.get('location')!
  const conversationId = page.split('/').pop()!
  const [customer] = sim.conversation(conversationId)!.participants
  const html = await (await get(url + page)).text()
  t.match(html, `<form method="post" id="behind" class="write" action="/console/conversations/${conversationId}/behind">`, 'the form is on the page')

  t.equal((await postJson(`${url}/participants/${conversationId}/${customer!.id}/data`, { attributes: { crm: '1' } })).status, 200)
  const behind = await form(`${url}${page}/behind`, { participant: customer!.id, name: 'flow_step', value: 'menu' })
  t.equal(behind.status, 303)
  t.equal(behind.headers.get('location'), page, 'back to the page')
  t.same(sim.attributes(conversationId, customer!.id), { crm: '1', flow_step: 'menu' })
  // The gateway's next write reads Genesys late (the sandbox lags), and still keeps the flow's value.
  t.equal((await postJson(`${url}/participants/${conversationId}/${customer!.id}/data`, { attributes: { crm: '2' } })).status, 200)
  t.same(sim.attributes(conversationId, customer!.id), { crm: '2', flow_step: 'menu' })

  t.equal((await form(`${url}${page}/behind`, { participant: id(), name: 'x', value: 'y' })).status, 404, 'an unknown participant')
  const nameless = await form(`${url}${page}/behind`, { participant: customer!.id, value: 'y' })
  t.equal(nameless.status, 400)
  t.match(await nameless.json(), { code: 'INVALID_BODY', errors: [{ path: '/name' }] })
})
