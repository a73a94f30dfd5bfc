import t from 'tap'
import { startService } from '../helpers/process.ts'
import { startRedisCluster } from '../helpers/redis.ts'
import { replicaTests, simulator } from '../helpers/replicas.ts'
import { id, send, startReplicas, startStack, until } from '../helpers/stack.ts'

/** Conversation ids whose keys live on every node of the cluster, four on each: twelve random ids miss a node one time in forty. */
async function onEveryNode (cluster: { portFor(key: string): Promise<number> }, perNode = 4): Promise<string[]> {
  const byPort = new Map<number, string[]>()
  while (byPort.size < 3 || [...byPort.values()].some((l) => l.length < perNode)) {
    const c = id()
    const port = await cluster.portFor(`{c:${c}}`)
    const list = byPort.get(port) ?? []
    if (list.length < perNode) list.push(c)
    byPort.set(port, list)
  }
  return [...byPort.values()].flat()
}

/** Readiness as a load balancer sees it: asked until ready (a busy machine connects slowly); fails loudly if it never is. */
async function ready (url: string): Promise<number> {
  return await until(async () => (await send(`${url}/readyz`, 'GET')).status, (s) => s === 200, { what: `${url} ready` })
}

// The replicas suite (test/helpers/replicas.ts) on a real three-node Redis Cluster.
replicaTests(t, {
  name: 'a Redis Cluster',
  start: async (t) => {
    const cluster = await startRedisCluster(t)
    return { env: { REDIS_CLUSTER_NODES: cluster.nodes }, source: `redis cluster ${cluster.nodes}` }
  },
})

t.test('two replicas on a Redis Cluster: asynchronous updates accepted by either settle written, readable from the other', async (t) => {
  const cluster = await startRedisCluster(t)
  const env = { REDIS_CLUSTER_NODES: cluster.nodes, API_KEYS: 'crm:crm-key:bulk' }
  const [a, b] = await startReplicas(t, { sim: { clientId: `cluster-async-${id()}` }, env })
  // Conversations spread over the slots, so every node holds some.
  const targets = Array.from({ length: 12 }, () => ({ c: id(), p: id() }))
  const accepted = await Promise.all(targets.map(({ c, p }, i) =>
    (i % 2 ? a : b).post(`/participants/${c}/${p}/data`, { attributes: { tier: `t${i}` } }, { 'x-api-key': 'crm-key', prefer: 'respond-async' })))
  const refused = accepted.find((x) => x.status !== 202)
  if (refused !== undefined) t.comment(`refused: ${refused.status} ${refused.body?.code}: ${refused.body?.detail}`)
  t.same(accepted.map((x) => x.status), targets.map(() => 202), 'every one accepted (202)')
  const ids = accepted.map((x) => x.body?.id as string).filter(Boolean)
  const stateOf = async () => Promise.all(ids.map(async (u, i) => (await send(`${(i % 2 ? b : a).url}/updates/${u}`, 'GET', undefined, { 'x-api-key': 'crm-key' })).body?.state as string))
  const states = await until(stateOf, (s) => s.every((x) => x === 'written' || x === 'failed'), { what: 'every update settled', everyMs: 100 })
  t.same(states, targets.map(() => 'written'), 'each settled written, as the other replica reports')
  t.same(targets.map(({ c, p }) => a.sim.attributes(c, p)?.tier), targets.map((_, i) => `t${i}`), 'and is in Genesys')
})

t.test('a cluster that requires a password: given in REDIS_CLUSTER_NODES as a URL, it applies to every node', async (t) => {
  const cluster = await startRedisCluster(t, { password: 'cluster-secret' })
  const [first, ...rest] = cluster.nodes.split(',')
  const good = await startStack(t, { sim: { clientId: `cluster-auth-${id()}` }, env: { REDIS_CLUSTER_NODES: [`redis://:cluster-secret@${first}`, ...rest].join(',') } })
  t.equal(await ready(good.url), 200, 'ready')
  // Conversations whose locks live on every node: each node was reached with the password.
  const conversations = await onEveryNode(cluster)
  t.equal(new Set(await Promise.all(conversations.map((c) => cluster.portFor(`{c:${c}}`)))).size, 3)
  const written = await Promise.all(conversations.map((c) => good.post(`/participants/${c}/${id()}/data`, { attributes: { a: '1' } })))
  t.same(written.map((x) => x.status), conversations.map(() => 200), 'written, whichever node holds the conversation')
  const bad = await startStack(t, { shareSimWith: good, env: { REDIS_CLUSTER_NODES: [`redis://:wrong@${first}`, ...rest].join(',') } })
  const refused = await send(`${bad.url}/readyz`, 'GET')
  t.equal(refused.status, 503, 'a wrong password: not ready')
  t.equal(refused.body.code, 'COORDINATION_UNAVAILABLE')
  t.notMatch(JSON.stringify(refused.body), /wrong|cluster-secret/, 'and the password is not in the answer')
  t.equal((await bad.post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })).body.code, 'COORDINATION_UNAVAILABLE', 'nor written')
})

t.test('a TLS-only cluster: rediss:// in REDIS_CLUSTER_NODES, every node (found or given) reached over TLS', async (t) => {
  const cluster = await startRedisCluster(t, { tls: true })
  const { sim, env } = await simulator(t)
  // Two seeds of three: the third is found through the cluster, and reached with the same TLS.
  const [first, second] = cluster.nodes.split(',')
  const service = await startService(t, { ...env, REDIS_CLUSTER_NODES: `rediss://${first},${second}`, NODE_EXTRA_CA_CERTS: cluster.ca! })
  t.equal(await ready(service.url), 200, 'ready')
  const conversations = await onEveryNode(cluster)
  t.equal(new Set(await Promise.all(conversations.map((c) => cluster.portFor(`{c:${c}}`)))).size, 3, 'locks on every node')
  const written = await Promise.all(conversations.map((c) => send(`${service.url}/participants/${c}/${id()}/data`, 'POST', { attributes: { a: '1' } })))
  t.same(written.map((x) => x.status), conversations.map(() => 200), 'each written')
  t.equal(sim.stats.writes, 12)
})
