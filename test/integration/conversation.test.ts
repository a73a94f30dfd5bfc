import t from 'tap'
import { id, send, startStack } from '../helpers/stack.ts'

t.test('conversation-level writes find the right participant', async (t) => {
  const { sim, post } = await startStack(t)
  const seed = (...purposes: string[]) => {
    const c = id()
    const participants = purposes.map((purpose) => ({ id: id(), purpose }))
    sim.seed({ id: c, participants })
    return { c, ids: participants.map((p) => p.id) }
  }

  t.test('inbound: the customer', async (t) => {
    const { c, ids } = seed('ivr', 'customer', 'agent')
    const before = sim.stats.reads
    const a = await post(`/conversations/${c}/data`, { attributes: { tier: 'gold' } })
    t.equal(a.status, 200)
    t.equal(a.body.participantId, ids[1], 'the answer names the participant chosen')
    t.same(sim.attributes(c, ids[1]!), { tier: 'gold' })
    t.same(sim.attributes(c, ids[2]!), {}, 'the agent is untouched')
    t.equal(sim.stats.reads - before, 1, 'one read: resolving the participant cost no extra request')
  })

  t.test('outbound: the external participant when there is no customer', async (t) => {
    const { c, ids } = seed('agent', 'external')
    const a = await post(`/conversations/${c}/data`, { attributes: { tier: 'gold' } })
    t.equal(a.body.participantId, ids[1])
    t.same(sim.attributes(c, ids[1]!), { tier: 'gold' })
  })

  t.test('an explicit purpose', async (t) => {
    const { c, ids } = seed('customer', 'agent')
    const a = await post(`/conversations/${c}/data`, { attributes: { wrapup: 'x' }, purpose: 'Agent' })
    t.equal(a.body.participantId, ids[1], 'purposes compare without case')
    t.same(sim.attributes(c, ids[0]!), {}, 'the customer is untouched')
  })

  t.test('an explicit participant id', async (t) => {
    const { c, ids } = seed('customer', 'customer')
    const a = await post(`/conversations/${c}/data`, { data: { tier: 'gold' }, participantId: ids[1]!.toUpperCase() })
    t.equal(a.status, 200)
    t.equal(a.body.participantId, ids[1])
    t.same(sim.attributes(c, ids[1]!), { tier: 'gold' })
  })

  t.test('two customers: 409 PARTICIPANT_AMBIGUOUS listing them, nothing written', async (t) => {
    const { c, ids } = seed('customer', 'agent', 'customer')
    const writes = sim.stats.writes
    const a = await post(`/conversations/${c}/data`, { attributes: { tier: 'gold' } })
    t.equal(a.status, 409)
    t.equal(a.body.code, 'PARTICIPANT_AMBIGUOUS')
    t.same(a.body.candidates, [ids[0], ids[2]])
    t.equal(sim.stats.writes, writes)
  })

  t.test('no customer or external: 404 PARTICIPANT_NOT_FOUND listing the purposes present', async (t) => {
    const { c } = seed('agent', 'ivr')
    const a = await post(`/conversations/${c}/data`, { attributes: { tier: 'gold' } })
    t.equal(a.status, 404)
    t.equal(a.body.code, 'PARTICIPANT_NOT_FOUND')
    t.same(a.body.purposes, ['agent', 'ivr'])
    t.match(a.body.detail, /customer or external; purposes present: agent, ivr/)
    const named = await post(`/conversations/${c}/data`, { attributes: { tier: 'gold' }, purpose: 'workflow' })
    t.match(named.body.detail, /no participant with purpose workflow/)
  })

  t.test('a bad selector is a 400 naming the field', async (t) => {
    const { c, ids } = seed('customer')
    const both = await post(`/conversations/${c}/data`, { attributes: { a: '1' }, purpose: 'customer', participantId: ids[0] })
    t.equal(both.body.code, 'INVALID_BODY')
    t.equal(both.body.errors[0].path, '/purpose')
    const odd = await post(`/conversations/${c}/data`, { attributes: { a: '1' }, purpose: 'cust omer' })
    t.equal(odd.body.errors[0].path, '/purpose')
    const badId = await post(`/conversations/${c}/data`, { attributes: { a: '1' }, participantId: 'nope' })
    t.equal(badId.body.errors[0].path, '/participantId')
  })

  t.test('writes by purpose and by id to the same participant never overlap', async (t) => {
    const { c, ids } = seed('customer')
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0 ? post(`/conversations/${c}/data`, { attributes: { [`k${i}`]: 'v' } }) : post(`/participants/${c}/${ids[0]}/data`, { attributes: { [`k${i}`]: 'v' } })
      )
    )
    t.ok(answers.every((a) => a.status === 200))
    t.equal(Object.keys(sim.attributes(c, ids[0]!)!).length, 20)
    t.equal(sim.stats.conflicts, 0)
  })
})

t.test('in sandbox, a made-up conversation has a customer to write to', async (t) => {
  const { post } = await startStack(t)
  const a = await post(`/conversations/${id()}/data`, { attributes: { tier: 'gold' } })
  t.equal(a.status, 200)
  t.match(a.body.participantId, /^[0-9a-f-]{36}$/)
})

t.test('GET reads a participant\'s attributes back, optionally only some keys', async (t) => {
  const { sim, url } = await startStack(t)
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { a: '1', b: '2', c: '3' } }] })
  const all = await send(`${url}/participants/${c}/${p}/data`, 'GET')
  t.equal(all.status, 200)
  t.same(all.body, { conversationId: c, participantId: p, attributes: { a: '1', b: '2', c: '3' } })
  t.equal(all.headers['cache-control'], 'no-store')
  const some = await send(`${url}/participants/${c}/${p}/data?keys=a,c,zz`, 'GET')
  t.same(some.body.attributes, { a: '1', c: '3' })
  const missing = await send(`${url}/participants/${c}/${id()}/data`, 'GET')
  t.equal(missing.status, 404)
  t.equal(missing.body.code, 'PARTICIPANT_NOT_FOUND')
  t.equal(sim.stats.writes, 0, 'reading writes nothing')
})

t.test('a dry run writes nothing and answers the map a real write then produces', async (t) => {
  const { sim, post } = await startStack(t)
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { kept: 'yes', tier: 'silver' } }] })
  const body = { attributes: { tier: 'gold', visits: 3, kept: null } }
  const dry = await post(`/participants/${c}/${p}/data?dryRun=true`, body)
  t.equal(dry.status, 200)
  t.equal(dry.body.dryRun, true)
  t.equal(sim.stats.writes, 0, 'no upstream write')
  t.same(sim.attributes(c, p), { kept: 'yes', tier: 'silver' })
  const real = await post(`/participants/${c}/${p}/data`, body)
  t.same(dry.body.attributes, real.body.attributes, 'the same map')
  t.same(dry.body.updated, real.body.updated)
  t.equal(real.body.dryRun, undefined)
  const convDry = await post(`/conversations/${c}/data?dryRun=true`, { attributes: { x: '1' } })
  t.equal(convDry.body.participantId, p, 'a conversation-level dry run resolves the participant too')
  t.equal(sim.stats.writes, 1)
  const bad = await post(`/participants/${c}/${p}/data?dryRun=yes`, body)
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'INVALID_QUERY')
  t.same(bad.body.errors[0].in, 'query')
})
