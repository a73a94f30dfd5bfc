import t from 'tap'
import { request } from 'undici'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { id, type Teardown } from '../helpers/stack.ts'

// Who a participant made up by a write becomes, over HTTP against the simulator: the
// conversation's customer when it has none (or only the one the simulator made up), else an agent.

async function start (t: Teardown) {
  const sim = buildSimulator({ clientId: 'c', clientSecret: 's' })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const got = await request(`${url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from('c:s').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  const headers = { authorization: `Bearer ${((await got.body.json()) as { access_token: string }).access_token}`, 'content-type': 'application/json' }
  const read = async (c: string) => (await (await request(`${url}/api/v2/conversations/${c}`, { headers })).body.json()) as { participants: Array<{ id: string; purpose: string }> }
  const write = async (c: string, p: string) => {
    const res = await request(`${url}/api/v2/conversations/${c}/participants/${p}/attributes`, { method: 'PATCH', headers, body: JSON.stringify({ attributes: { k: p } }) })
    await res.body.dump()
    return res.statusCode
  }
  const purposes = async (c: string) => (await read(c)).participants.map((p) => [p.id, p.purpose])
  return { sim, read, write, purposes }
}

t.test("a write to a made-up conversation's made-up participant makes it the customer, beside an agent", async (t) => {
  const { read, write, purposes } = await start(t)
  const c = id()
  const p = id()
  const before = await read(c) // the service reads before it writes
  const agent = before.participants.find((x) => x.purpose === 'agent')!
  t.equal(await write(c, p), 202)
  t.same(await purposes(c), [[p, 'customer'], [agent.id, 'agent']], 'the named participant takes the made-up customer\'s place')

  const other = id()
  t.equal(await write(c, other), 202)
  t.same((await purposes(c)).at(-1), [other, 'agent'], 'the next one joins as an agent: one customer stays unambiguous')
})

t.test('a made-up customer that was written to keeps its place', async (t) => {
  const { read, write, purposes } = await start(t)
  const c = id()
  const [customer, agent] = (await read(c)).participants
  t.equal(await write(c, customer!.id), 202, 'written by id, as the conversation route does')
  const p = id()
  t.equal(await write(c, p), 202)
  t.same(await purposes(c), [[customer!.id, 'customer'], [agent!.id, 'agent'], [p, 'agent']])
})

t.test('a seeded conversation: customer when it has no customer or external, else agent', async (t) => {
  const { sim, write, purposes } = await start(t)
  const cases: Array<[string[], string]> = [[['agent', 'ivr'], 'customer'], [['agent'], 'customer'], [['external', 'agent'], 'agent'], [['Customer'], 'agent']]
  for (const [seeded, expected] of cases) {
    const c = id()
    sim.seed({ id: c, participants: seeded.map((purpose) => ({ id: id(), purpose })) })
    const p = id()
    t.equal(await write(c, p), 202)
    t.same((await purposes(c)).at(-1), [p, expected], `beside ${seeded.join(', ')}: ${expected}`)
    t.equal((await purposes(c)).length, seeded.length + 1, 'no seeded participant is replaced')
  }
})
