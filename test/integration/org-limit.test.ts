// Issue 38: the org's own rate limit, read from Genesys's Limits API, so the budget starts right.
import { Writable } from 'node:stream'
import t from 'tap'
import { startRedis } from '../helpers/redis.ts'
import { id, startStack, until, type Answer, type Stack, type Teardown } from '../helpers/stack.ts'
import { tally } from '../helpers/window.ts'

// A 4 s window stands for Genesys's minute, at the simulator and in the gateway.
const windowMs = 4000
const tune = (c: { genesys: { rateLimit: { windowMs: number } } }) => { c.genesys.rateLimit.windowMs = windowMs }
// Nothing configured: GENESYS_RATE_LIMIT_PER_MINUTE unset.
const unset = { GENESYS_RATE_LIMIT_PER_MINUTE: '' }

function burst (s: Stack, n: number): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => s.post(`/participants/${id()}/${id()}/data`, { attributes: { a: String(i) } }, { 'x-request-timeout-ms': '3000' })))
}

async function stack (t: Teardown, allowed: number, opts: { limitsApi?: 'forbidden'; env?: Record<string, string>; log?: string[] } = {}) {
  const logStream = new Writable({ write (chunk, _enc, cb) { opts.log?.push(String(chunk)); cb() } })
  return startStack(t, {
    sim: { clientId: `org-${id()}`, rateLimit: { requests: allowed, windowMs }, ...(opts.limitsApi && { limitsApi: opts.limitsApi }) },
    env: { ...unset, LOG_LEVEL: 'info', ...opts.env },
    tune,
    deps: { logStream },
  })
}

t.test('nothing configured, the org allows 60: the budget starts at 60, and a first burst of 100 writes what fits, with no 429', async (t) => {
  const log: string[] = []
  const s = await stack(t, 60, { log })
  await until(() => s.app.services.updates.rateLimit().source === 'org')
  t.same(s.app.services.updates.rateLimit(), { limit: 60, source: 'org' })
  t.match(log.join(''), /"rateLimit":60,"source":"org".*rate limit: the org allows 60 a minute \(Limits API\)/, 'start-up says where the limit came from')
  const counts = tally(await burst(s, 100))
  t.comment(JSON.stringify(counts))
  t.ok((counts['200'] ?? 0) >= 27, `at least 27 of the 29 that fit are written (${counts['200']}; one unit went to asking)`)
  t.equal(s.sim.stats.rateLimited, 0, 'no upstream 429')
  const metrics = await fetch(`${s.url}/metrics`).then((r) => r.text())
  t.match(metrics, /^pdg_rate_limit_source\{source="org"\} 1$/m)
  t.match(metrics, /^pdg_rate_budget_configured_limit 60$/m)
})

t.test("nothing configured, the org allows 600: a burst gets 600's worth, not Genesys's default 300", async (t) => {
  const s = await stack(t, 600)
  await until(() => s.app.services.updates.rateLimit().source === 'org')
  t.same(s.app.services.updates.rateLimit(), { limit: 600, source: 'org' })
  const counts = tally(await burst(s, 200))
  t.comment(JSON.stringify(counts))
  // 300 a window would write 150 merge writes at most; 600 writes all 200 (400 requests).
  t.ok((counts['200'] ?? 0) > 150, `more than 300's worth (${counts['200']} of 200)`)
  t.equal(s.sim.stats.rateLimited, 0, 'no upstream 429')
})

t.test('a configured number is a ceiling: the org allows 600, the gateway spends 100', async (t) => {
  const s = await stack(t, 600, { env: { GENESYS_RATE_LIMIT_PER_MINUTE: '100' } })
  await until(() => s.sim.stats.limitReads === 1)
  await until(() => s.app.services.updates.rateLimit().source === 'configured')
  t.same(s.app.services.updates.rateLimit(), { limit: 100, source: 'configured' })
})

t.test('the Limits API refused (403): the configured value, or 300, and start-up says so', async (t) => {
  const log: string[] = []
  const s = await stack(t, 60, { limitsApi: 'forbidden', log })
  await until(() => log.join('').includes('rate limit:'))
  t.same(s.app.services.updates.rateLimit(), { limit: 300, source: 'default' })
  t.match(log.join(''), /rate limit: the Limits API could not be read \(Genesys Cloud answered 403 to getLimits.*\): spending Genesys's default, 300 a minute/)
  t.equal(s.sim.stats.limitReads, 1)
  const configured = await stack(t, 60, { limitsApi: 'forbidden', env: { GENESYS_RATE_LIMIT_PER_MINUTE: '50' } })
  await until(() => configured.sim.stats.limitReads === 1)
  t.same(configured.app.services.updates.rateLimit(), { limit: 50, source: 'configured' })
})

t.test('two replicas sharing Redis ask once between them, and both spend by the answer', async (t) => {
  const redis = await startRedis(t)
  const env = { ...unset, REDIS_URL: redis.url }
  const one = await startStack(t, { sim: { clientId: `org-${id()}`, rateLimit: { requests: 600, windowMs } }, env, tune })
  const two = await startStack(t, { shareSimWith: one, env, tune })
  await until(() => one.app.services.updates.rateLimit().source === 'org' && two.app.services.updates.rateLimit().source === 'org')
  t.same(two.app.services.updates.rateLimit(), { limit: 600, source: 'org' })
  t.equal(one.sim.stats.limitReads, 1, 'one read of the Limits API for both')
})
