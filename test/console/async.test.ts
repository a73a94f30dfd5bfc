import { Writable } from 'node:stream'
import t from 'tap'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startReplicas, startStack, until } from '../helpers/stack.ts'
import { startSandboxStack } from './stack.ts'

// Asynchronous updates (Prefer: respond-async) as the console shows them, over plain HTTP.

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { redirect: 'manual', headers })
const getJson = async (url: string, headers: Record<string, string> = {}): Promise<any> => (await get(url, headers)).json()
const signIn = async (url: string, key: string) => {
  const res = await fetch(`${url}/console/sign-in`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key, next: '/console' }).toString(),
  })
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]! }
}

t.test('sandbox: an async update shows with its state, then written; a failed one with its code; no value anywhere', async (t) => {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const { url, sim } = await startSandboxStack(t, { LOG_LEVEL: 'info' }, { logStream })
  const made = await fetch(`${url}/console/conversations`, { method: 'POST', redirect: 'manual' })
  const page = url + made.headers.get('location')!
  const conversationId = page.split('/').pop()!
  const customer = sim.conversation(conversationId)!.participants[0]!

  const before = await (await get(page)).text()
  t.match(before, /<h2 id="async-h">Asynchronous updates<\/h2>/, 'the conversation page has the section')
  t.match(before, /<tbody id="async-conversation" data-cols="">\n<tr><td colspan="5" class="muted">None.<\/td><\/tr>/)

  const accepted = await send(`${url}/participants/${conversationId}/${customer.id}/data`, 'POST', { attributes: { tier: 'secret-async-value' } }, { prefer: 'respond-async' })
  t.equal(accepted.status, 202)
  const listed = await getJson(`${url}/console/updates`)
  t.match(listed.recent[0], { id: accepted.body.id, conversationId, participantId: customer.id, keys: ['tier'] }, 'listed at once')
  t.ok(['queued', 'written'].includes(listed.recent[0].state), `with its state (${listed.recent[0].state})`)

  const state = await until(() => getJson(`${page}/state`), (s) => s.updates[0]?.state === 'written')
  t.match(state.updates, [{ id: accepted.body.id, state: 'written', keys: ['tier'], attempts: 1 }], 'the conversation page\'s data: written')
  t.same(state.participants[0].attributes, { tier: 'secret-async-value' })

  // A purpose the conversation does not have: the update is accepted, then fails for good.
  const wrong = await send(`${url}/conversations/${conversationId}/data`, 'POST', { purpose: 'supervisor', attributes: { crm_id: '42' } }, { prefer: 'respond-async' })
  t.equal(wrong.status, 202)
  const settled = await until(() => getJson(`${url}/console/updates`), (u) => u.failed.length > 0)
  t.match(settled.failed, [{ id: wrong.body.id, state: 'failed', keys: ['crm_id'], error: { code: 'PARTICIPANT_NOT_FOUND', status: 404 } }])
  t.match(settled.recent.map((u: { id: string, state: string }) => [u.id, u.state]), [[wrong.body.id, 'failed'], [accepted.body.id, 'written']], 'newest first')
  t.notOk('participantId' in settled.failed[0], 'a conversation write that found no participant has none')

  const index = await (await get(`${url}/console`)).text()
  t.match(index, /<h2 id="async-h">Asynchronous updates<\/h2>/)
  t.match(index, new RegExp(`<tr data-update="${wrong.body.id}">.*<td class="state state-failed">failed</td><td><code>PARTICIPANT_NOT_FOUND</code>`), 'the failed one with its code')
  t.match(index, new RegExp(`<tr data-update="${accepted.body.id}">.*<td>tier</td><td class="state state-written">written</td>`))
  const html = await (await get(page)).text()
  t.match(html, new RegExp(`<tr data-update="${wrong.body.id}">.*PARTICIPANT_NOT_FOUND`), 'and on the conversation page')
  const section = html.slice(html.indexOf('<h2 id="async-h">'), html.indexOf('</section>', html.indexOf('<h2 id="async-h">')))
  t.match(section, 'tier')
  t.notMatch(index + section + JSON.stringify(settled) + JSON.stringify(state.updates), 'secret-async-value', 'keys, never values (the participant table shows the value)')
  t.notMatch(lines.join(''), 'secret-async-value', 'no value in any log line')
  t.notMatch(lines.join(''), '"url":"/console/updates"', 'the poll is not logged')
})

t.test('outside sandbox with CONSOLE=1: each signed-in key sees only its own async updates', async (t) => {
  const { url, sim } = await startStack(t, { sim: { strict: true }, env: { CONSOLE: '1', API_KEYS: 'crm:crm-key,flow:flow-key' } })
  const conversationId = id()
  const participantId = id()
  sim.seed({ id: conversationId, participants: [{ id: participantId, purpose: 'customer' }] })
  t.equal((await get(`${url}/console/updates`)).status, 401, 'refused without a session')

  // A participant the simulator does not have: strict mode answers 404, and the update fails.
  const crmFailed = await send(`${url}/participants/${conversationId}/${id()}/data`, 'POST', { attributes: { a: '1' } }, { 'x-api-key': 'crm-key', prefer: 'respond-async' })
  const flowOk = await send(`${url}/participants/${conversationId}/${participantId}/data`, 'POST', { attributes: { b: '2' } }, { 'x-api-key': 'flow-key', prefer: 'respond-async' })
  t.equal(crmFailed.status, 202)
  t.equal(flowOk.status, 202)

  const crm = await signIn(url, 'crm-key')
  const flow = await signIn(url, 'flow-key')
  const mine = await until(() => getJson(`${url}/console/updates`, crm), (u) => u.failed.length > 0)
  t.match(mine, { recent: [{ id: crmFailed.body.id, state: 'failed' }], failed: [{ id: crmFailed.body.id, error: { code: 'PARTICIPANT_NOT_FOUND' } }] })
  t.equal(mine.recent.length, 1, 'not the other key\'s')
  const theirs = await until(() => getJson(`${url}/console/updates`, flow), (u) => u.recent[0]?.state === 'written')
  t.match(theirs, { recent: [{ id: flowOk.body.id, state: 'written', keys: ['b'] }], failed: [] })
  t.equal(theirs.recent.length, 1)

  const crmState = await getJson(`${url}/console/conversations/${conversationId}/state`, crm)
  t.same(crmState.updates.map((u: { id: string }) => u.id), [crmFailed.body.id], 'the conversation page too: own updates only')
  const flowPage = await (await get(`${url}/console/conversations/${conversationId}`, flow)).text()
  t.match(flowPage, flowOk.body.id)
  t.notMatch(flowPage, crmFailed.body.id)
  const crmIndex = await (await get(`${url}/console`, crm)).text()
  t.notMatch(crmIndex, flowOk.body.id)
})

t.test('production without Redis: no asynchronous delivery, so no section and no feed', async (t) => {
  const { url } = await startStack(t, { env: { CONSOLE: '1', API_KEYS: 'crm:crm-key', NODE_ENV: 'production' } })
  const crm = await signIn(url, 'crm-key')
  t.notMatch(await (await get(`${url}/console`, crm)).text(), 'Asynchronous updates')
  t.equal((await get(`${url}/console/updates`, crm)).status, 404)
})

t.test('with Redis: the latest updates come from the shared store, per key and per conversation', async (t) => {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, CONSOLE: '1', API_KEYS: 'crm:crm-key,flow:flow-key' }
  const [a, b] = await startReplicas(t, { env })
  const c1 = id()
  const c2 = id()
  const ids: string[] = []
  for (const c of [c1, c2, c1]) {
    const r = await send(`${a.url}/participants/${c}/${id()}/data`, 'POST', { attributes: { k: 'v' } }, { 'x-api-key': 'crm-key', prefer: 'respond-async' })
    ids.push(r.body.id)
  }
  await send(`${a.url}/participants/${c1}/${id()}/data`, 'POST', { attributes: { k: 'v' } }, { 'x-api-key': 'flow-key', prefer: 'respond-async' })
  const crm = await signIn(b.url, 'crm-key')
  const all = await until(() => getJson(`${b.url}/console/updates`, crm), (u) => u.recent.length === ids.length && u.recent.every((x: { state: string }) => x.state === 'written'), { what: "this key's three updates listed, written" })
  t.same(all.recent.map((u: { id: string }) => u.id), [...ids].reverse(), 'another replica lists them, newest first, only this key\'s')
  t.same(all.recent.map((u: { state: string }) => u.state), ['written', 'written', 'written'])
  const one = await getJson(`${b.url}/console/conversations/${c1}/state`, crm)
  t.same(one.updates.map((u: { id: string }) => u.id), [ids[2], ids[0]], 'one conversation\'s')
})
