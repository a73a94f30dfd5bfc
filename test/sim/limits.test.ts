import t from 'tap'
import { simToken } from '../helpers/sim-token.ts'
import { buildSimulator, type SimulatorOptions } from '../../src/sim/simulator.ts'
import type { Teardown } from '../helpers/stack.ts'

// GET /api/v2/organizations/limits/namespaces/platform.api, as Genesys publishes an org's limits.

async function limits (t: Teardown, opts: SimulatorOptions, namespace = 'platform.api') {
  const sim = buildSimulator(opts)
  t.teardown(() => sim.app.close())
  const token = await simToken(sim)
  const res = await sim.app.inject({ method: 'GET', url: `/api/v2/organizations/limits/namespaces/${namespace}`, headers: { authorization: `Bearer ${token}` } })
  return { status: res.statusCode, body: res.json(), sim }
}

t.test("the token's rate is the simulator's own budget, in Genesys's shape", async (t) => {
  const { status, body } = await limits(t, { rateLimit: { requests: 60 } })
  t.equal(status, 200)
  t.same(body.entities.find((e: { key: string }) => e.key === 'client.credentials.token.rate.per.minute'), { key: 'client.credentials.token.rate.per.minute', namespace: 'platform.api', value: 60 })
  t.ok(body.entities.some((e: { key: string }) => e.key === 'request.bytes.max'))
})

t.test('no budget set: none enforced, and said so; another namespace is 404; refused 403 when told to', async (t) => {
  t.match((await limits(t, {})).body.entities, [{ key: 'client.credentials.token.rate.per.minute', value: 1_000_000 }])
  t.equal((await limits(t, {}, 'platform.other')).status, 404)
  const refused = await limits(t, { limitsApi: 'forbidden' })
  t.equal(refused.status, 403)
  t.equal(refused.body.code, 'missing.permissions')
  t.equal(refused.sim.stats.limitReads, 1, 'counted, answered or not')
})
