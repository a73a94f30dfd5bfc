import t from 'tap'
import { Agent, request } from 'undici'
import { id, startStack, until, type Stack } from '../helpers/stack.ts'

/** Another system (an agent script, say) writing straight to Genesys, outside our queue. */
async function foreignWrite (stack: Stack, conversationId: string, participantId: string, attributes: Record<string, string>) {
  const token = await stack.app.services.tokens.get()
  const res = await request(`${stack.config.genesys.apiUrl}/api/v2/conversations/${conversationId}/participants/${participantId}/attributes`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ attributes }),
  })
  await res.body.dump()
  return res.statusCode
}

t.test('a 409 caused by another writer: re-read, re-merge, retry, and keep both', async (t) => {
  // Reads that show writes at once: under replace semantics the other writer's key survives only
  // when the re-read shows it, which a late Genesys may not yet (docs/flows.md, "What merge mode can revert").
  const c = id()
  const p = id()
  // Our re-read after the 409 goes once the other writer's PATCH has landed. Without this, on a
  // busy machine it could land between our re-read and our PATCH, and replace semantics would drop
  // its key however right the service is (no order of requests can prevent that).
  const agent = new Agent()
  t.teardown(() => agent.close())
  let reads = 0
  const dispatcher = agent.compose((dispatch) => (opts, handler) => {
    if (opts.method !== 'GET' || !opts.path.includes(c) || ++reads === 1) return dispatch(opts, handler)
    void until(() => stack.sim.stats.writesInFlight === 0, Boolean, { what: "the other writer's PATCH landed" }).then(() => dispatch(opts, handler))
    return true
  })
  const stack: Stack = await startStack(t, { sim: { semantics: 'replace', writeMs: 150, readLagMs: 0 }, deps: { dispatcher } })
  stack.sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { before: '1' } }] })
  const foreign = foreignWrite(stack, c, p, { before: '1', agent: 'wrote this' })
  await until(() => stack.sim.stats.writesInFlight === 1) // the foreign write now holds the conversation
  const ours = await stack.post(`/participants/${c}/${p}/data`, { attributes: { ours: 'too' } })
  t.equal(await foreign, 202)
  t.equal(ours.status, 200)
  t.ok(ours.body.attempts > 1, `took ${ours.body.attempts} attempts`)
  t.ok(stack.sim.stats.conflicts >= 1, 'Genesys did answer 409')
  t.same(stack.sim.conversation(c)!.participants[0]!.attributes, { before: '1', agent: 'wrote this', ours: 'too' }, 'the other writer’s key survived a replace-semantics write')
})

t.test('retries are bounded: a conversation that keeps changing gets UPSTREAM_CONFLICT, not a hang', async (t) => {
  // The foreign write holds the conversation far longer than a try and a retry take.
  const stack = await startStack(t, { sim: { writeMs: 2000 }, env: { GENESYS_CONFLICT_RETRIES: '1' } })
  const c = id()
  const p = id()
  const foreign = foreignWrite(stack, c, p, { agent: 'x' })
  await until(() => stack.sim.stats.writesInFlight === 1) // the foreign write now holds the conversation
  const ours = await stack.post(`/participants/${c}/${p}/data`, { attributes: { ours: 'y' } })
  await foreign
  t.equal(ours.status, 409)
  t.equal(ours.body.code, 'UPSTREAM_CONFLICT')
  t.equal(stack.sim.stats.conflicts, 2, 'one try plus one retry')
  t.equal(stack.sim.conversation(c)!.participants[0]!.attributes.ours, undefined, 'and indeed not written')
  t.equal(stack.app.services.updates.size, 0)
})
