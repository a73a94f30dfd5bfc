import { spawnSync } from 'node:child_process'
import t from 'tap'
import { id, startStack, type Answer } from '../helpers/stack.ts'

/** `name{a="x",b="y"} 3` lines, as {name, labels, value}. */
function parse (text: string) {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = l.match(/^([a-zA-Z0-9_:]+)(?:\{(.*)\})? (\S+)$/)!
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
      return { name: m[1]!, labels, value: Number(m[3]) }
    })
}

async function scrape (url: string) {
  const text = await (await fetch(`${url}/metrics`)).text()
  const samples = parse(text)
  return (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0)
}

t.test('after a mixed run, /metrics counts each kind of thing that happened', async (t) => {
  const { sim, url, post } = await startStack(t, {
    sim: { faults: { seed: 11, conflictRate: 0.15, rateLimitRate: 0.05 }, recordRequests: true },
    env: { API_KEYS: 'crm:crm-key' },
    // Each 429 sets the budget to what was sent in the trailing window, for five windows: a
    // short window keeps that near this run's own pace, so the injected 429s are retried rather
    // than leaving a minute-long budget of the run's first few requests.
    tune: (c) => (c.genesys.rateLimit.windowMs = 500),
  })
  const key = { 'x-api-key': 'crm-key' }
  const answers: Answer[] = []
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 15; i++) answers.push(await post(`/participants/${id()}/${id()}/data`, { attributes: { [`k${w}`]: String(i) } }, key))
    })
  )
  const invalid = await Promise.all(Array.from({ length: 7 }, () => post(`/participants/${id()}/${id()}/data`, { attributes: { bad: { nested: 1 } } }, key)))
  const unauthorized = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })
  const path = `/participants/${id()}/${id()}/data`
  await post(path, { attributes: { a: '1' } }, { ...key, 'idempotency-key': 'once' })
  for (let i = 0; i < 3; i++) await post(path, { attributes: { a: '1' } }, { ...key, 'idempotency-key': 'once' })

  const ok = answers.filter((a) => a.status === 200).length + 1
  const metric = await scrape(url)
  const route = '/participants/:conversationId/:participantId/data'
  t.equal(metric('pdg_http_requests_total', { route, method: 'POST', status: '200', code: '' }), ok + 3, 'requests: successes (replays included)')
  t.equal(metric('pdg_http_requests_total', { route, status: '400', code: 'INVALID_BODY' }), invalid.length, 'requests: validation errors, by code')
  t.equal(metric('pdg_http_requests_total', { status: '401', code: 'UNAUTHORIZED' }), 1, 'requests: refused callers')
  t.equal(unauthorized.status, 401)
  t.ok(metric('pdg_http_request_duration_seconds_count', { route }) >= ok, 'request durations')

  const inj = sim.stats.injected
  t.ok(inj.conflicts > 5 && inj.rateLimited > 2, `faults injected: ${inj.conflicts} 409s, ${inj.rateLimited} 429s`)
  // A 409 or 429 is retried unless the retry cannot fit the caller's deadline (a loaded machine):
  // then the caller is told so. The org's limit, read once at start-up, is not retried (it is asked again later).
  const final = (code: string) => answers.filter((a) => a.body?.code === code).length
  const limitsRefused = sim.requests.filter((r) => r.path.includes('/organizations/limits/') && r.status === 429).length
  t.equal(metric('pdg_genesys_retries_total', { cause: 'conflict' }) + final('UPSTREAM_CONFLICT'), inj.conflicts, 'a retry for every 409, or its caller told UPSTREAM_CONFLICT')
  t.equal(metric('pdg_genesys_retries_total', { cause: 'rate_limited' }) + final('UPSTREAM_RATE_LIMITED') + limitsRefused, inj.rateLimited, 'a retry for every 429, or its caller told UPSTREAM_RATE_LIMITED')
  t.equal(metric('pdg_genesys_request_duration_seconds_count', { operation: 'patchAttributes', status: '202' }), sim.stats.writes, 'upstream: every write, by status')
  t.equal(metric('pdg_genesys_request_duration_seconds_count', { operation: 'patchAttributes', status: '409' }), inj.conflicts)
  t.equal(metric('pdg_genesys_request_duration_seconds_count', { status: '429' }), inj.rateLimited)
  t.equal(metric('pdg_genesys_request_duration_seconds_count', { operation: 'token', status: '200' }), sim.stats.tokenRequests)
  t.equal(metric('pdg_token_refreshes_total', { outcome: 'ok' }), sim.stats.tokenRequests, 'token refreshes')
  t.equal(metric('pdg_write_batch_size_count'), sim.stats.writes, 'a batch size for every write')
  t.equal(metric('pdg_write_batch_size_sum'), ok, 'and together they carried every successful update')
  t.equal(metric('pdg_idempotent_replays_total'), 3, 'idempotent replays')
  t.equal(metric('pdg_queue_updates'), 0, 'queue depth, now empty')
  t.equal(metric('pdg_queue_conversations'), 0)
  t.ok(metric('process_resident_memory_bytes') > 0, 'and the process metrics')
  t.notMatch(await (await fetch(`${url}/metrics`)).text(), /[0-9a-f]{8}-[0-9a-f]{4}-/, 'no id in any label')
})

t.test('rate-budget waits and refusals are counted by priority', async (t) => {
  const { url, post } = await startStack(t, {
    env: { GENESYS_RATE_LIMIT_PER_MINUTE: '10', API_KEYS: 'sync:sync-key:bulk' },
    tune: (c) => (c.genesys.rateLimit.windowMs = 9000),
  })
  const answers = await Promise.all(Array.from({ length: 12 }, () => post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'x-api-key': 'sync-key', 'x-request-timeout-ms': '2500' })))
  const refused = answers.filter((a) => a.body.code === 'RATE_BUDGET_EXHAUSTED').length
  const metric = await scrape(url)
  t.ok(refused > 0)
  t.equal(metric('pdg_rate_budget_refusals_total', { priority: 'bulk' }), refused, 'a refusal for every RATE_BUDGET_EXHAUSTED')
  t.ok(metric('pdg_rate_budget_waits_total', { priority: 'bulk' }) > 0, 'and the waits')
  t.equal(metric('pdg_rate_budget_waits_total', { priority: 'live' }), 0)
})

t.test('/metrics passes promtool check metrics (no lint problem for Prometheus to trip on)', async (t) => {
  const { url } = await startStack(t)
  const text = await (await fetch(`${url}/metrics`)).text()
  t.match(text, /^nodejs_active_handles\{/m, 'the per-type gauges of active handles stay')
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  t.notOk(check.error, 'promtool is installed (Debian: apt-get install prometheus)')
  t.equal(check.status, 0, `promtool says: ${check.stdout}${check.stderr}`)
})
