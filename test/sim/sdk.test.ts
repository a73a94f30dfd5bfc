import t from 'tap'
import platformClient from 'purecloud-platform-client-v2'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { id } from '../helpers/stack.ts'

// The official Genesys JS SDK, unchanged, against the simulator: if the SDK accepts it, the
// simulator speaks the real wire contract (paths, auth, bodies, status codes).
t.test('the official Genesys JS SDK logs in, patches and reads back through the simulator', async (t) => {
  // Reads 400 ms late, as Genesys's may: the clock is held still, then moved on past the lag.
  let now = Date.now()
  const sim = buildSimulator({ clientId: 'sdk-client', clientSecret: 'sdk-secret', semantics: 'replace', readLagMs: 400, clock: () => now })
  const url = new URL(await sim.app.listen({ port: 0, host: '127.0.0.1' }))
  t.teardown(() => sim.app.close())

  const client = platformClient.ApiClient.instance
  client.setGateway({ host: url.hostname, protocol: 'http', port: Number(url.port) })
  await t.rejects(client.loginClientCredentialsGrant('sdk-client', 'wrong'), 'a wrong secret is refused')
  const auth = await client.loginClientCredentialsGrant('sdk-client', 'sdk-secret')
  t.type(auth.accessToken, 'string', 'logged in')

  const api = new platformClient.ConversationsApi()
  const c = id()
  const p = id()
  await api.patchConversationParticipantAttributes(c, p, { attributes: { customer_tier: 'gold', crm_id: 'A-1' } })
  const echoed = await api.patchConversationsCallParticipantAttributes(c, p, { attributes: { customer_tier: 'platinum', crm_id: 'A-1' } })
  t.same(echoed.attributes, { customer_tier: 'platinum', crm_id: 'A-1' }, 'the media-specific variant answers with the map')

  const late = await api.getConversation(c)
  t.same(late.participants?.find((x) => x.id === p)?.attributes, {}, 'a read right after the writes does not show them yet')
  now += 400
  const conversation = await api.getConversation(c)
  t.equal(conversation.id, c)
  const participant = conversation.participants?.find((x) => x.id === p)
  // Issue 13 item 8: the participant a write makes up is the made-up conversation's customer.
  t.equal(participant?.purpose, 'customer', 'created on first use as the customer of the conversation the simulator made up')
  t.same(conversation.participants?.map((x) => x.purpose), ['customer', 'agent'], 'beside the agent the simulator made up')
  t.same(participant?.attributes, { customer_tier: 'platinum', crm_id: 'A-1' }, 'read back what was written')
  // The org's effective limits, as the Limits API publishes them.
  const limits = await new platformClient.OrganizationApi().getOrganizationsLimitsNamespace('platform.api')
  t.match(limits.entities, [{ key: 'client.credentials.token.rate.per.minute', namespace: 'platform.api', value: 1_000_000 }], 'a simulator with no budget enforces none')
  t.equal(sim.stats.limitReads, 1)
  t.equal(sim.stats.writes, 2)
  t.equal(sim.stats.tokenRequests, 2)
})
