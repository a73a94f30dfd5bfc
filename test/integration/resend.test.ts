import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startStack, until, type Stack } from '../helpers/stack.ts'

const keys = 'crm:crm-key:bulk,other:other-key'
const crm = { 'x-api-key': 'crm-key', prefer: 'respond-async' }
const auth = { 'x-api-key': 'crm-key' }

const get = (stack: Stack, location: string, headers = auth) => send(stack.url + location, 'GET', undefined, headers)
const settled = (stack: Stack, location: string) => until(() => get(stack, location), (s) => ['written', 'failed'].includes(s.body?.state), { what: `${location} settled` })

/** A conversation with an agent only: a conversation write to it fails PARTICIPANT_NOT_FOUND, until `heal` adds a customer. */
function agentOnly (stack: Stack) {
  const c = id()
  const customer = id()
  stack.sim.seed({ id: c, participants: [{ id: id(), purpose: 'agent' }] })
  return { c, customer, heal: () => stack.sim.seed({ id: c, participants: [{ id: id(), purpose: 'agent' }, { id: customer, purpose: 'customer' }] }) }
}

async function failedUpdate (stack: Stack, attributes: Record<string, string>) {
  const conv = agentOnly(stack)
  const a = await stack.post(`/conversations/${conv.c}/data`, { attributes }, crm)
  const s = await settled(stack, a.headers.location as string)
  if (s.body.state !== 'failed') throw new Error(`expected failed, got ${JSON.stringify(s.body)}`)
  return { ...conv, id: a.body.id as string }
}

t.test('POST /updates/{id}/retry sends a failed update again, once: 202, a new id, retryOf; its values written', async (t) => {
  const stack = await startStack(t, { sim: { strict: true }, env: { API_KEYS: keys } })
  const f = await failedUpdate(stack, { crm_case: 'C-1042' })
  f.heal()
  const r = await stack.post(`/updates/${f.id}/retry`, undefined, auth)
  t.equal(r.status, 202)
  t.not(r.body.id, f.id, 'a new update')
  t.match(r.body, { state: 'queued', conversationId: f.c, retryOf: f.id, keys: ['crm_case'] })
  t.equal(r.headers.location, `/updates/${r.body.id}`)
  const s = await settled(stack, r.headers.location as string)
  t.match(s.body, { state: 'written', retryOf: f.id, participantId: f.customer })
  t.equal(stack.sim.attributes(f.c, f.customer)?.crm_case, 'C-1042', 'the failed update\'s values, kept for this')
  const again = await stack.post(`/updates/${f.id}/retry`, undefined, auth)
  t.equal(again.status, 409)
  t.match(again.body, { code: 'UPDATE_ALREADY_RETRIED', retriedAs: r.body.id })
  const notFailed = await stack.post(`/updates/${r.body.id}/retry`, undefined, auth)
  t.equal(notFailed.status, 409)
  t.match(notFailed.body, { code: 'UPDATE_NOT_FAILED', state: 'written' })
  const theirs = await stack.post(`/updates/${f.id}/retry`, undefined, { 'x-api-key': 'other-key' })
  t.equal(theirs.status, 404, 'only the key that sent it')
  t.equal(theirs.body.code, 'UPDATE_NOT_FOUND')
  t.equal((await stack.post(`/updates/${id()}/retry`, undefined, auth)).body.code, 'UPDATE_NOT_FOUND')
})

t.test('a failed update whose conversation has ended is refused CONVERSATION_ENDED, and can be tried later no more', async (t) => {
  const stack = await startStack(t, { sim: { strict: true }, env: { API_KEYS: keys } })
  const f = await failedUpdate(stack, { crm_case: 'C-9' })
  stack.sim.end(f.c)
  const writes = stack.sim.stats.writes
  const r = await stack.post(`/updates/${f.id}/retry`, undefined, auth)
  t.equal(r.status, 409)
  t.equal(r.body.code, 'CONVERSATION_ENDED')
  t.equal(stack.sim.stats.writes, writes, 'nothing sent')
  t.equal((await stack.post(`/updates/${f.id}/retry`, undefined, auth)).body.code, 'CONVERSATION_ENDED', 'not marked as sent: refused for the same reason again')
})

t.test('POST /updates/retry?state=failed&since= resends the key\'s failed updates since then, oldest first, each once', async (t) => {
  const stack = await startStack(t, { sim: { strict: true }, env: { API_KEYS: keys } })
  const before = await failedUpdate(stack, { tier: 'bronze' })
  await new Promise((resolve) => setTimeout(resolve, 10))
  const since = new Date().toISOString()
  // Two failed updates to one participant's key: the later value must stand again.
  const conv = agentOnly(stack)
  const ids: string[] = []
  for (const tier of ['gold', 'silver']) {
    const a = await stack.post(`/conversations/${conv.c}/data`, { attributes: { tier } }, crm)
    await settled(stack, a.headers.location as string)
    ids.push(a.body.id)
  }
  const ended = await failedUpdate(stack, { tier: 'x' })
  stack.sim.end(ended.c)
  conv.heal()
  before.heal()
  const theirs = await send(`${stack.url}/updates/retry?state=failed&since=${since}`, 'POST', undefined, { 'x-api-key': 'other-key' })
  t.same(theirs.body, { retried: [], refused: [], skipped: 0, more: false }, 'another key resends none of them')
  const r = await send(`${stack.url}/updates/retry?state=failed&since=${encodeURIComponent(since)}`, 'POST', undefined, auth)
  t.equal(r.status, 202)
  t.same(r.body.retried.map((x: { retryOf: string }) => x.retryOf), ids, 'the two since then, oldest first; not the one before')
  t.match(r.body.refused, [{ id: ended.id, code: 'CONVERSATION_ENDED' }])
  t.equal(r.body.more, false)
  for (const x of r.body.retried) t.match((await settled(stack, x.location)).body, { state: 'written', retryOf: x.retryOf })
  t.equal(stack.sim.attributes(conv.c, conv.customer)?.tier, 'silver', 'per key, the value accepted last stands again')
  t.equal(stack.sim.attributes(before.c, before.customer)?.tier, undefined, 'the one before `since` was not sent')
  const again = await send(`${stack.url}/updates/retry?state=failed&since=${encodeURIComponent(since)}`, 'POST', undefined, auth)
  t.same(again.body.retried, [], 'run twice: nothing sent twice')
  t.equal(again.body.skipped, 2)
  const limited = await send(`${stack.url}/updates/retry?state=failed&since=2000-01-01T00:00:00Z&limit=1`, 'POST', undefined, auth)
  t.match(limited.body, { retried: [{ retryOf: before.id }], more: true }, 'up to limit, and says more are left')
  const bad = await send(`${stack.url}/updates/retry?state=failed&since=yesterday`, 'POST', undefined, auth)
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'INVALID_QUERY')
  t.match(bad.body.detail, /since/)
})

t.test('an update that failed before failed updates kept their values is refused UPDATE_VALUES_NOT_KEPT: its blanks are never sent', async (t) => {
  const redis = await startRedis(t)
  const stack = await startStack(t, { env: { API_KEYS: keys, REDIS_URL: redis.url } })
  // As the previous version stored a failed update: its values blanked, no valuesKept.
  const old = { id: id(), caller: 'crm', state: 'failed', conversationId: id(), participantId: id(), changes: { tier: '' }, seq: 1, attempts: 1, acceptedAt: Date.now() - 1000, settledAt: Date.now(), error: { code: 'UPSTREAM_ERROR', status: 502, detail: 'x' } }
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  await client.set(`{${stack.app.services.stores.shared!.prefix}async}:u:${old.id}`, JSON.stringify({ ...old, target: { participantId: old.participantId } }))
  const r = await stack.post(`/updates/${old.id}/retry`, undefined, auth)
  t.equal(r.status, 409)
  t.equal(r.body.code, 'UPDATE_VALUES_NOT_KEPT')
  t.equal(stack.sim.stats.writes, 0, 'nothing sent')
})
