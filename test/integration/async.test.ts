import t from 'tap'
import { id, send, startStack, until, type Stack } from '../helpers/stack.ts'

const keys = 'crm:crm-key:bulk,other:other-key'
const crm = { 'x-api-key': 'crm-key', prefer: 'respond-async' }

/** Polls the update's status until it settles (or is not found); one that never does fails loudly. */
async function settled (stack: Stack, location: string, key = 'crm-key') {
  return await until(() => send(stack.url + location, 'GET', undefined, { 'x-api-key': key }),
    (s) => s.status !== 200 || s.body.state === 'written' || s.body.state === 'failed', { what: `${location} settled` })
}

t.test('Prefer: respond-async is answered 202 with where to look, and the update is then written', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys } })
  const c = id()
  const p = id()
  const a = await stack.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold', n: 3 } }, crm)
  t.equal(a.status, 202)
  t.equal(a.headers['preference-applied'], 'respond-async')
  t.equal(a.headers.location, `/updates/${a.body.id}`)
  t.match(a.body, { state: 'queued', conversationId: c, participantId: p, keys: ['tier', 'n'] })
  t.ok(Date.parse(a.body.acceptedAt) > 0)
  const s = await settled(stack, a.headers.location as string)
  t.match(s.body, { id: a.body.id, state: 'written', conversationId: c, participantId: p, keys: ['tier', 'n'], attempts: 1 })
  t.ok(s.body.settledAt >= s.body.acceptedAt)
  t.equal(s.body.error, undefined)
  t.same(stack.sim.attributes(c, p), { tier: 'gold', n: '3' }, 'and it is in "Genesys"')
  t.equal(s.headers['cache-control'], 'no-store')
})

t.test('the preference is found among others, in any case; a conversation write names its participant once written', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys } })
  const c = id()
  const a = await stack.post(`/conversations/${c}/data`, { attributes: { x: '1' } }, { 'x-api-key': 'crm-key', prefer: 'return=minimal, Respond-Async; wait=10' })
  t.equal(a.status, 202)
  t.equal(a.body.participantId, undefined, 'not known yet')
  const s = await settled(stack, a.headers.location as string)
  t.equal(s.body.state, 'written')
  t.equal(stack.sim.attributes(c, s.body.participantId)?.x, '1')
  const plain = await stack.post(`/conversations/${c}/data`, { attributes: { x: '2' } }, { 'x-api-key': 'crm-key', prefer: 'return=minimal' })
  t.equal(plain.status, 200, 'other preferences alone: synchronous')
  t.equal(plain.headers['preference-applied'], undefined)
})

t.test('an idle system delivers at once: before a synchronous write sent right after the 202', async (t) => {
  const stack = await startStack(t, { sim: { faults: { latencyMs: { min: 50, max: 50 } } } })
  const c = id()
  const p = id()
  const a = await stack.post(`/participants/${c}/${p}/data`, { attributes: { k: 'v' } }, { prefer: 'respond-async' })
  t.equal(a.status, 202)
  // Had delivery waited for a polling interval, this write would reach Genesys first, and its
  // answer (the participant's whole map, read before writing) would not hold k.
  const next = await stack.post(`/participants/${c}/${p}/data`, { attributes: { j: 'w' } })
  t.same(next.body.attributes, { k: 'v', j: 'w' }, 'the asynchronous update was written first')
  t.equal(next.body.coalesced, 1, 'on its own: the synchronous write came after it, not with it')
})

t.test('bad input is refused at once and never stored; a dry run stays synchronous', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys } })
  const path = `/participants/${id()}/${id()}/data`
  t.equal((await stack.post(path, { attributes: { a: '0' } }, { 'x-api-key': 'crm-key' })).status, 200, 'a participant to dry-run against')
  const bad = await stack.post(path, { attributes: { nested: { no: 1 } } }, crm)
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'INVALID_BODY')
  const unauth = await stack.post(path, { attributes: { a: '1' } }, { prefer: 'respond-async' })
  t.equal(unauth.status, 401)
  const dry = await stack.post(`${path}?dryRun=true`, { attributes: { a: '1' } }, crm)
  t.equal(dry.status, 200)
  t.equal(dry.body.dryRun, true)
  t.equal(dry.headers['preference-applied'], undefined)
  const metrics = await fetch(stack.url + '/metrics').then((r) => r.text())
  t.match(metrics, /pdg_async_accepted_total 0/, 'nothing accepted')
  t.equal(stack.sim.stats.writes, 1, 'only the first, synchronous write')
})

t.test('only the API key that submitted an update may read it', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys } })
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  const mine = await settled(stack, a.headers.location as string)
  t.equal(mine.status, 200)
  const theirs = await send(stack.url + a.headers.location, 'GET', undefined, { 'x-api-key': 'other-key' })
  t.equal(theirs.status, 404)
  t.equal(theirs.body.code, 'UPDATE_NOT_FOUND')
  const none = await send(`${stack.url}/updates/${id()}`, 'GET', undefined, { 'x-api-key': 'crm-key' })
  t.equal(none.body.code, 'UPDATE_NOT_FOUND', 'the same answer as for an id that never was')
  const anonymous = await send(stack.url + a.headers.location, 'GET')
  t.equal(anonymous.status, 401)
})

t.test('an Idempotency-Key on an async write gets the first 202 and its id, and writes once', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys } })
  const path = `/participants/${id()}/${id()}/data`
  const first = await stack.post(path, { attributes: { k: 'v' } }, { ...crm, 'idempotency-key': 'order-9' })
  await settled(stack, first.headers.location as string)
  const again = await stack.post(path, { attributes: { k: 'v' } }, { ...crm, 'idempotency-key': 'order-9' })
  t.equal(again.status, 202)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.equal(again.headers.location, first.headers.location)
  t.same(again.body, first.body)
  t.equal(stack.sim.stats.writes, 1)
})

t.test('a final failure settles failed at once with its code, and is listed for the caller', async (t) => {
  const stack = await startStack(t, { sim: { strict: true }, env: { API_KEYS: keys } })
  const c = id()
  stack.sim.seed({ id: c, participants: [{ id: id(), purpose: 'agent' }] })
  const gone = await stack.post(`/conversations/${c}/data`, { attributes: { k: 'v' } }, crm)
  const s = await settled(stack, gone.headers.location as string)
  t.match(s.body, { state: 'failed', attempts: 1, error: { code: 'PARTICIPANT_NOT_FOUND', status: 404 } })
  const other = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  await settled(stack, other.headers.location as string)
  const list = await send(`${stack.url}/updates?state=failed&limit=1`, 'GET', undefined, { 'x-api-key': 'crm-key' })
  t.equal(list.status, 200)
  t.same(list.body.items.map((i: { id: string }) => i.id), [other.body.id], 'newest first')
  t.equal(list.body.next, '/updates?state=failed&limit=1&offset=1')
  const rest = await send(stack.url + list.body.next, 'GET', undefined, { 'x-api-key': 'crm-key' })
  t.same(rest.body.items.map((i: { id: string }) => i.id), [gone.body.id])
  t.equal(rest.body.next, undefined)
  const theirs = await send(`${stack.url}/updates?state=failed`, 'GET', undefined, { 'x-api-key': 'other-key' })
  t.same(theirs.body.items, [], 'another key sees none of them')
  const bad = await send(`${stack.url}/updates?state=queued`, 'GET', undefined, { 'x-api-key': 'crm-key' })
  t.equal(bad.body.code, 'INVALID_QUERY')
})

t.test('an update that cannot be delivered within ASYNC_MAX_AGE_MS settles DELIVERY_EXPIRED, after retries', async (t) => {
  const stack = await startStack(t, { sim: { faults: { serverErrorRate: 1 } }, env: { API_KEYS: keys, ASYNC_MAX_AGE_MS: '1500' } })
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  t.equal(a.status, 202)
  const s = await settled(stack, a.headers.location as string)
  t.match(s.body, { state: 'failed', error: { code: 'DELIVERY_EXPIRED', status: 504 } })
  t.ok(s.body.attempts >= 1)
  const metrics = await fetch(stack.url + '/metrics').then((r) => r.text())
  t.match(metrics, /pdg_async_failed_total\{code="DELIVERY_EXPIRED"\} 1/)
  t.match(metrics, /pdg_genesys_retries_total\{cause="server"\} [1-9]/, 'retried on the way')
})

t.test('past ASYNC_MAX_BACKLOG: 503 OVERLOADED with Retry-After, nothing stored', async (t) => {
  const stack = await startStack(t, { sim: { writeMs: 600 }, env: { API_KEYS: keys, ASYNC_MAX_BACKLOG: '1' } })
  const c = id()
  const p = id()
  const first = await stack.post(`/participants/${c}/${p}/data`, { attributes: { a: '1' } }, crm)
  t.equal(first.status, 202)
  const second = await stack.post(`/participants/${c}/${p}/data`, { attributes: { b: '2' } }, crm)
  t.equal(second.status, 503)
  t.equal(second.body.code, 'OVERLOADED')
  t.equal(second.headers['retry-after'], '1')
  const metrics = await fetch(stack.url + '/metrics').then((r) => r.text())
  t.match(metrics, /pdg_async_backlog 1\n/, 'the backlog, in the metrics')
  t.match(metrics, /pdg_async_oldest_age_seconds 0\.\d*[1-9]/, 'and the age of its oldest update')
  await settled(stack, first.headers.location as string)
  t.same(stack.sim.attributes(c, p), { a: '1' }, 'the refused update was never written')
})

t.test('a bug in the intake is a 500 INTERNAL_ERROR, not a 503 blaming Redis (there is none here)', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys } })
  stack.app.services.updates.sequence = async () => {
    throw new TypeError("Cannot read properties of undefined (reading 'seq')")
  }
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  t.equal(a.status, 500)
  t.equal(a.body.code, 'INTERNAL_ERROR')
})

t.test('a replica whose event loop is kept busy starts fewer delivery attempts at once, and takes more again once it is not', async (t) => {
  const stack = await startStack(t)
  const limit = async () => Number((await fetch(stack.url + '/metrics').then((r) => r.text())).match(/^pdg_async_attempt_limit (\d+)$/m)?.[1])
  const before = await limit()
  t.ok(before >= 1 && before <= 500, `at most as many as the worker runs (${before})`)
  // Stretches of 300 ms with the loop all but never idle, as under a load that saturates the
  // replica, until the limit has halved, three times over. Waited for as a state: on a busy
  // machine the idle time around each stretch varies, so how many stretches a halving takes does too.
  const spin = () => { for (const end = performance.now() + 300; performance.now() < end;); }
  let busy = before
  for (let i = 0; i < 3; i++) {
    const was = busy
    busy = await until(async () => { spin(); return await limit() }, (l) => l <= Math.max(1, was >> 1), { what: `the limit halved from ${was} while the loop is busy` })
  }
  t.ok(busy <= Math.max(1, before / 2 ** 3), `halved each time (${busy})`)
  // Looked at every 200 ms: the looking is work on this same event loop.
  const after = await until(limit, (l) => l > busy, { what: `the limit above ${busy} once the loop is quiet`, everyMs: 200 })
  t.ok(after > busy, `then more again once it is quiet (${after})`)
})

t.test('in production without Redis the preference is not applied: a synchronous answer', async (t) => {
  const stack = await startStack(t, { env: { API_KEYS: keys, NODE_ENV: 'production' } })
  const a = await stack.post(`/participants/${id()}/${id()}/data`, { attributes: { k: 'v' } }, crm)
  t.equal(a.status, 200)
  t.equal(a.headers['preference-applied'], undefined)
  t.same(a.body.updated, ['k'])
})
