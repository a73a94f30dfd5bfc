import t, { type Test } from 'tap'
import { startRedis } from '../helpers/redis.ts'
import { id, send, startStack, until } from '../helpers/stack.ts'

// Genesys's budget, 300 requests a minute, played ten times faster: 300 in any 6 s, enforced by
// the simulator and planned for by the service alike. What is checked is proportion (every update
// written, coalesced, no 429), which a shorter window keeps, at a tenth of the wait.
const WINDOW_MS = 6000

async function budgetTest (t: Test, env: Record<string, string> = {}, concurrency?: number) {
  const stack = await startStack(t, {
    sim: { rateLimit: { requests: 300, windowMs: WINDOW_MS } },
    env: { GENESYS_RATE_LIMIT_PER_MINUTE: '300', ...env },
    tune: (config) => {
      config.genesys.rateLimit.windowMs = WINDOW_MS
      if (concurrency !== undefined) config.delivery.concurrency = concurrency
    },
  })
  const conversations = Array.from({ length: 50 }, () => ({ c: id(), p: id() }))
  const ids: string[] = []
  for (let round = 0; round < 20; round++) {
    const answers = await Promise.all(
      conversations.map(({ c, p }) => stack.post(`/participants/${c}/${p}/data`, { attributes: { [`r${round}`]: 'x', shared: String(round) } }, { prefer: 'respond-async' }))
    )
    t.same(answers.map((a) => a.status).filter((s) => s !== 202), [], `round ${round}: every update accepted`)
    ids.push(...answers.map((a) => a.body.id))
  }
  let open = ids
  const failed: string[] = []
  await until(async () => {
    const states = await Promise.all(open.map((u) => send(`${stack.url}/updates/${u}`, 'GET')))
    failed.push(...open.filter((_, i) => states[i]!.body.state === 'failed'))
    open = open.filter((_, i) => !['written', 'failed'].includes(states[i]!.body.state))
    return open.length
  }, (left) => left === 0, { what: 'all 1,000 settled', withinMs: 120_000, everyMs: 250 }) // a look is a GET per update: rarely, or the looking starves the delivery
  t.same(failed, [], 'none failed')
  t.equal(open.length, 0, 'all 1,000 written')
  const complete = conversations.filter(({ c, p }) => {
    const a = stack.sim.attributes(c, p) ?? {}
    return a.shared === '19' && Array.from({ length: 20 }, (_, r) => a[`r${r}`] === 'x').every(Boolean)
  })
  t.equal(complete.length, 50, 'every key in every conversation, the last value standing')
  t.ok(stack.sim.stats.writes < 250, `${stack.sim.stats.writes} upstream writes for 1,000 updates`)
  t.equal(stack.sim.stats.overBudget, 0, 'zero upstream 429s')
  t.comment(`${stack.sim.stats.writes} writes, ${stack.sim.stats.reads} reads`)
}

t.test('at 300 requests per window, 1,000 async updates over 50 conversations are all accepted and written, coalesced, with no 429', (t) => budgetTest(t))

t.test('the same through Redis, with workers for fewer conversations than are waiting: the backlog still folds', async (t) => {
  const redis = await startRedis(t)
  // Ten conversations attempted at a time: updates waiting for the other forty go out together when their turn comes.
  await budgetTest(t, { REDIS_URL: redis.url }, 10)
})
