import t, { type Test } from 'tap'
import { startSandboxStack } from '../console/stack.ts'
import { id, send, startStack, until, type Stack } from '../helpers/stack.ts'

// Invariant 10 (docs/architecture.md): a write to an ended conversation is refused wherever the gateway reads it.

/** A conversation with a customer holding one attribute, ended through the simulator's admin route, as a hang-up. */
async function endedCall (t: Test, stack: Stack) {
  const c = id()
  const p = id()
  stack.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { tier: 'gold' } }, { id: id(), purpose: 'agent' }] })
  const ended = await send(`${stack.config.genesys.apiUrl}/__sim/conversations/${c}/end`, 'POST')
  t.equal(ended.status, 200)
  t.ok(Date.parse(ended.body.endTime) > 0, 'the simulator sets endTime')
  return { c, p }
}

async function settled (stack: Stack, location: string) {
  return await until(() => send(stack.url + location, 'GET'), (s) => s.body.state === 'written' || s.body.state === 'failed', { what: `${location} settled` })
}

t.test('merge mode: both routes answer 409 CONVERSATION_ENDED and send no write', async (t) => {
  const stack = await startStack(t)
  const { c, p } = await endedCall(t, stack)
  for (const path of [`/participants/${c}/${p}/data`, `/conversations/${c}/data`]) {
    const a = await stack.post(path, { attributes: { tier: 'platinum' } })
    t.equal(a.status, 409, path)
    t.match(a.headers['content-type'], /^application\/problem\+json/)
    t.match(a.body, { code: 'CONVERSATION_ENDED', status: 409, detail: new RegExp(`conversation ${c} ended at`) })
    t.ok(Date.parse(a.body.endTime) > 0, 'the problem says when')
  }
  const dry = await stack.post(`/participants/${c}/${p}/data?dryRun=true`, { attributes: { tier: 'platinum' } })
  t.equal(dry.body.code, 'CONVERSATION_ENDED', 'a dry run answers as the write would')
  const back = await send(`${stack.url}/participants/${c}/${p}/data`, 'GET')
  t.same(back.body.attributes, { tier: 'gold' }, 'reading an ended call back is still fine')
  t.equal(stack.sim.stats.writes, 0, 'nothing reached Genesys')
  t.same(stack.sim.attributes(c, p), { tier: 'gold' })
})

t.test('patch mode: the conversation route reads, so it refuses; the participant route cannot know', async (t) => {
  const stack = await startStack(t, { env: { GENESYS_WRITE_MODE: 'patch' } })
  const { c, p } = await endedCall(t, stack)
  const byConversation = await stack.post(`/conversations/${c}/data`, { attributes: { tier: 'platinum' } })
  t.equal(byConversation.status, 409)
  t.equal(byConversation.body.code, 'CONVERSATION_ENDED')
  const byParticipant = await stack.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'platinum' } })
  t.equal(byParticipant.status, 200, 'no read, so the end is not seen (the docs say so)')
  t.equal(stack.sim.attributes(c, p)?.tier, 'platinum')
})

t.test('ENDED_CONVERSATION_WRITES=allow writes anyway', async (t) => {
  const stack = await startStack(t, { env: { ENDED_CONVERSATION_WRITES: 'allow' } })
  const { c, p } = await endedCall(t, stack)
  const a = await stack.post(`/conversations/${c}/data`, { attributes: { tier: 'platinum' } })
  t.equal(a.status, 200)
  t.same(stack.sim.attributes(c, p), { tier: 'platinum' })
})

t.test('an ENDED_CONVERSATION_WRITES other than refuse or allow stops start-up, naming it', async (t) => {
  await t.rejects(startStack(t, { env: { ENDED_CONVERSATION_WRITES: 'sometimes' } }), /ENDED_CONVERSATION_WRITES/)
})

t.test('async: accepted, then failed for good with CONVERSATION_ENDED after one attempt', async (t) => {
  const stack = await startStack(t)
  const { c, p } = await endedCall(t, stack)
  const a = await stack.post(`/participants/${c}/${p}/data`, { attributes: { tier: 'platinum' } }, { prefer: 'respond-async' })
  t.equal(a.status, 202)
  const s = await settled(stack, a.headers.location as string)
  t.match(s.body, { state: 'failed', attempts: 1, error: { code: 'CONVERSATION_ENDED', status: 409 } })
  t.equal(stack.sim.stats.writes, 0)
  t.same(stack.sim.attributes(c, p), { tier: 'gold' })
})

t.test('sandbox console: a button ends the conversation, and the page then says writes are refused', async (t) => {
  const { url, sim } = await startSandboxStack(t)
  const made = await fetch(`${url}/console/conversations`, { method: 'POST', redirect: 'manual' })
  const page = made.headers.get('location')!
  const c = page.split('/').pop()!
  const before = await (await fetch(url + page)).text()
  t.match(before, `<form method="post" action="/console/conversations/${c}/end"><button type="submit">End this conversation`)
  const end = await fetch(`${url}/console/conversations/${c}/end`, { method: 'POST', redirect: 'manual' })
  t.equal(end.status, 303)
  t.equal(end.headers.get('location'), page)
  const endTime = sim.conversation(c)!.endTime!
  t.ok(Date.parse(endTime) > 0)
  const after = await (await fetch(url + page)).text()
  t.match(after, `Ended at ${endTime}`)
  t.notMatch(after, '/end"><button')
  const write = await send(`${url}/conversations/${c}/data`, 'POST', { attributes: { a: '1' } })
  t.equal(write.body.code, 'CONVERSATION_ENDED')
})
