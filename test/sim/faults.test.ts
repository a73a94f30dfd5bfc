import t from 'tap'
import { request } from 'undici'
import { buildSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/simulator.ts'
import { id, type Teardown } from '../helpers/stack.ts'

// The simulator's fault injection and rate budget, over real HTTP against a listening simulator:
// the service's retry tests lean on these faults happening as configured, so they are pinned here.

interface Answer {
  /** 0 when the simulator dropped the connection without an answer. */
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
}

/** Rate headers on an answer: Genesys sends none since 2021, and neither does the simulator. */
const rateHeaders = (a: Answer) => Object.keys(a.headers).filter((h) => h.startsWith('inin-ratelimit'))

async function start (t: Teardown, opts: SimulatorOptions): Promise<{ sim: Simulator; url: string }> {
  const sim = buildSimulator({ clientId: 'c', clientSecret: 's', ...opts })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  return { sim, url }
}

async function call (url: string, method: 'GET' | 'PATCH' | 'POST', path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  try {
    const res = await request(url + path, { method, headers, body })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
  } catch (err) {
    // undici's words for "the server closed the socket without answering".
    if (['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_CLOSED'].includes((err as { code?: string }).code ?? '')) return { status: 0, headers: {}, body: undefined }
    throw err
  }
}

const tokenCall = (url: string) =>
  call(url, 'POST', '/oauth/token', { authorization: 'Basic ' + Buffer.from('c:s').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' }, 'grant_type=client_credentials')

/** A token, asking again while injected faults refuse one. */
async function token (url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const a = await tokenCall(url)
    if (a.status === 200) return a.body.access_token
  }
  throw new Error('no token in 100 tries')
}

const get = (url: string, tok: string, conversationId: string) => call(url, 'GET', `/api/v2/conversations/${conversationId}`, { authorization: `Bearer ${tok}` })
const patch = (url: string, tok: string, conversationId: string, attributes: Record<string, string>) =>
  call(url, 'PATCH', `/api/v2/conversations/${conversationId}/participants/p1/attributes`, { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, JSON.stringify({ attributes }))

function tally (statuses: number[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of statuses) {
    const k = s >= 500 ? '5xx' : String(s)
    out[k] = (out[k] ?? 0) + 1
  }
  return out
}

/** Seeded, so the counts are fixed; the tolerance only says what "about its rate" means. */
function near (t: { ok(v: boolean, m: string): unknown }, actual: number | undefined, expected: number, tolerance: number, what: string) {
  t.ok(Math.abs((actual ?? 0) - expected) <= tolerance, `${what}: ${actual ?? 0} is within ${tolerance} of ${expected}`)
}

t.test('each fault happens at about its rate, on the endpoints it applies to', async (t) => {
  const { sim, url } = await start(t, { faults: { seed: 7, conflictRate: 0.1, rateLimitRate: 0.1, serverErrorRate: 0.1, dropRate: 0.1 } })
  const { injected } = sim.stats

  const tokenStatuses: number[] = []
  for (let i = 0; i < 1000; i++) tokenStatuses.push((await tokenCall(url)).status)
  const tokens = tally(tokenStatuses)
  t.same(Object.keys(tokens).sort(), ['0', '200', '5xx'], 'the token endpoint only fails with 5xx and drops')
  near(t, tokens['5xx'], 100, 40, 'token 5xx')
  near(t, tokens['0'], 100, 40, 'token drops')
  t.equal(injected.serverErrors, tokens['5xx'])
  t.equal(injected.drops, tokens['0'])

  const tok = await token(url)
  const before = structuredClone(sim.stats)
  const getStatuses: number[] = []
  for (let i = 0; i < 2000; i++) getStatuses.push((await get(url, tok, 'c-read')).status)
  const gets = tally(getStatuses)
  t.same(Object.keys(gets).sort(), ['0', '200', '429', '5xx'], 'GET never gets an injected 409')
  near(t, gets['429'], 200, 60, 'GET 429')
  near(t, gets['5xx'], 200, 60, 'GET 5xx')
  near(t, gets['0'], 200, 60, 'GET drops')
  t.equal(injected.rateLimited - before.injected.rateLimited, gets['429'])
  t.equal(sim.stats.rateLimited - before.rateLimited, gets['429'], 'every 429 is counted in rateLimited')
  t.equal(injected.serverErrors - before.injected.serverErrors, gets['5xx'])
  t.equal(injected.drops - before.injected.drops, gets['0'])
  t.equal(sim.stats.reads - before.reads, gets['200'], 'only the answered GETs count as reads')

  const mid = structuredClone(sim.stats)
  const patchStatuses: number[] = []
  for (let i = 0; i < 2000; i++) patchStatuses.push((await patch(url, tok, `c-${i % 10}`, { n: String(i) })).status)
  const patches = tally(patchStatuses)
  near(t, patches['409'], 200, 60, 'PATCH 409')
  near(t, patches['429'], 200, 60, 'PATCH 429')
  near(t, patches['5xx'], 200, 60, 'PATCH 5xx')
  near(t, patches['0'], 200, 60, 'PATCH drops')
  t.equal(injected.conflicts, patches['409'])
  t.equal(sim.stats.conflicts, 0, 'injected 409s are not natural conflicts')
  t.equal(injected.rateLimited - mid.injected.rateLimited, patches['429'])
  const serverErrors = injected.serverErrors - mid.injected.serverErrors
  t.equal(serverErrors, patches['5xx'])
  near(t, injected.serverErrorsAfterWrite, serverErrors / 2, 40, '5xx after the write')
  t.equal(injected.dropsBeforeWrite + injected.dropsAfterWrite, patches['0'])
  near(t, injected.dropsAfterWrite, injected.dropsBeforeWrite, 50, 'drops after vs before the write')
  t.equal(sim.stats.writes, (patches['202'] ?? 0) + injected.serverErrorsAfterWrite + injected.dropsAfterWrite, 'writes = answered 202s plus the ones applied before a failure')
  t.equal(sim.stats.overBudget, 0)

  const codes = new Set([...tokenStatuses, ...getStatuses, ...patchStatuses].filter((s) => s >= 500))
  t.same([...codes].sort(), [500, 502, 503], 'all three 5xx appear')
})

t.test('the same seed answers the same sequence; another seed does not', async (t) => {
  const faults = { conflictRate: 0.15, rateLimitRate: 0.15, serverErrorRate: 0.15, dropRate: 0.15 }
  async function run (seed: number): Promise<number[]> {
    const { url } = await start(t, { faults: { seed, ...faults } })
    const tok = await token(url)
    const statuses: number[] = []
    for (let i = 0; i < 150; i++) statuses.push((i % 2 === 0 ? await get(url, tok, 'c1') : await patch(url, tok, 'c1', { i: String(i) })).status)
    return statuses
  }
  const a = await run(42)
  const b = await run(42)
  const c = await run(43)
  t.same(a, b, 'seed 42 twice')
  t.notSame(a, c, 'seed 43 differs')
  t.ok(new Set(a).size >= 5, 'and the sequence mixes successes and several faults')
})

const attributesOf = (sim: Simulator, conversationId: string) => sim.attributes(conversationId, 'p1')

t.test('a PATCH dropped after its write was applied; one dropped before was not', async (t) => {
  const { sim, url } = await start(t, { faults: { seed: 5, dropRate: 0.5 } })
  const tok = await token(url)
  const seen = { before: 0, after: 0, answered: 0 }
  for (let i = 0; i < 40; i++) {
    const c = id()
    const { dropsBeforeWrite, dropsAfterWrite } = sim.stats.injected
    const a = await patch(url, tok, c, { mark: c })
    if (sim.stats.injected.dropsAfterWrite > dropsAfterWrite) {
      seen.after++
      t.equal(a.status, 0, 'no answer')
      t.same(attributesOf(sim, c), { mark: c }, 'but the write landed')
    } else if (sim.stats.injected.dropsBeforeWrite > dropsBeforeWrite) {
      seen.before++
      t.equal(a.status, 0, 'no answer')
      t.equal(attributesOf(sim, c), undefined, 'and nothing written')
    } else {
      seen.answered++
      t.equal(a.status, 202)
    }
  }
  t.ok(seen.before > 0 && seen.after > 0 && seen.answered > 0, `both kinds of drop happened: ${JSON.stringify(seen)}`)
  t.equal(sim.stats.writes, seen.after + seen.answered)
})

t.test('a 5xx after the write was applied; one before was not', async (t) => {
  const { sim, url } = await start(t, { faults: { seed: 9, serverErrorRate: 0.5 } })
  const tok = await token(url)
  const fromTokens = sim.stats.injected.serverErrors
  const seen = { before: 0, after: 0 }
  for (let i = 0; i < 40; i++) {
    const c = id()
    const afterBefore = sim.stats.injected.serverErrorsAfterWrite
    const a = await patch(url, tok, c, { mark: c })
    if (a.status === 202) continue
    t.ok([500, 502, 503].includes(a.status), `a server error (${a.status})`)
    t.equal(a.body.status, a.status, 'in a Genesys error body')
    if (sim.stats.injected.serverErrorsAfterWrite > afterBefore) {
      seen.after++
      t.same(attributesOf(sim, c), { mark: c }, 'the failure answer hides a write that landed')
    } else {
      seen.before++
      t.equal(attributesOf(sim, c), undefined, 'not written')
    }
  }
  t.ok(seen.before > 0 && seen.after > 0, `both kinds happened: ${JSON.stringify(seen)}`)
  t.equal(sim.stats.injected.serverErrors - fromTokens, seen.before + seen.after)
})

t.test('an injected 409 is counted apart from natural conflicts', async (t) => {
  const { sim, url } = await start(t, { writeMs: 300, faults: { seed: 3, conflictRate: 0.5 } })
  const tok = await token(url)
  const c = id()
  // 20 writes at once to one conversation: the injected 409s strike first, the rest race for real.
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => patch(url, tok, c, { i: String(i) })))
  const conflicts = answers.filter((a) => a.status === 409)
  t.equal(answers.filter((a) => a.status === 202).length, 1, 'one write won')
  t.equal(conflicts.length, 19, 'everyone else heard 409')
  t.ok(conflicts.every((a) => a.body.code === 'conflict'), 'with the Genesys code')
  t.ok(sim.stats.injected.conflicts > 0, `some were injected (${sim.stats.injected.conflicts})`)
  t.ok(sim.stats.conflicts > 0, `some were natural (${sim.stats.conflicts})`)
  t.equal(sim.stats.injected.conflicts + sim.stats.conflicts, 19, 'and no 409 is counted twice')
  t.equal(sim.stats.writes, 1)
})

t.test('the budget lets exactly N requests per window through for each token', async (t) => {
  // The simulator's own clock, stepped by the test: the window is the simulator's, not the machine's.
  let now = 1_000_000
  const { sim, url } = await start(t, { clock: () => now, rateLimit: { requests: 5, windowMs: 500 }, recordRequests: true })
  const a = await token(url)
  const c = id()
  const passed = [await get(url, a, c), await patch(url, a, c, { n: '1' }), await get(url, a, c)]
  await token(url) // the token endpoint is not counted
  t.equal((await get(url, 'not-a-token', c)).status, 401, 'a bad token gets 401 (and costs no budget)')
  passed.push(await patch(url, a, c, { n: '2' }), await get(url, a, c))
  t.same(passed.map((x) => x.status), [200, 202, 200, 202, 200], 'five pass, token requests and 401s not counted')

  const refused = await patch(url, a, c, { n: 'over' })
  t.equal(refused.status, 429)
  t.equal(refused.body.code, 'too.many.requests.retry.after')
  t.equal(refused.headers['retry-after'], '1', 'Retry-After rounds the rest of the window up to a second')
  t.same(rateHeaders(refused), [], 'and nothing says the limit: Genesys retired the inin-ratelimit-* headers')
  t.same(passed.flatMap(rateHeaders), [], 'nor on the answers that passed')
  t.equal(sim.attributes(c, 'p1')!.n, '2', 'the refused write was not applied')

  const b = await token(url)
  const other = []
  for (let i = 0; i < 6; i++) other.push((await get(url, b, c)).status)
  t.same(other, [200, 200, 200, 200, 200, 429], 'another token has a budget of its own')

  now += 499
  t.equal((await get(url, a, c)).status, 429, 'still the same window 499 ms on')
  now += 1
  const again = []
  for (let i = 0; i < 6; i++) again.push((await get(url, a, c)).status)
  t.same(again, [200, 200, 200, 200, 200, 429], 'a new window, a new budget')
  t.equal(sim.stats.overBudget, 4)
  t.equal(sim.stats.rateLimited, 4)
  t.equal(sim.stats.injected.rateLimited, 0)
  t.same(sim.requests.filter((r) => r.status === 429).length, 4, 'the log agrees')
})

t.test('a sliding window: Retry-After counts the seconds until the oldest request leaves it', async (t) => {
  let clock = 1_000_000
  const { sim, url } = await start(t, { clock: () => clock, rateLimit: { requests: 2 } })
  const tok = await token(url)
  const c = id()
  t.equal((await get(url, tok, c)).status, 200)
  clock += 30_000
  t.equal((await get(url, tok, c)).status, 200)
  clock += 12_500
  const refused = await get(url, tok, c)
  t.equal(refused.status, 429)
  t.equal(refused.headers['retry-after'], '18', '17.5 s left in the default one-minute window, rounded up')
  clock += 17_500
  t.equal((await get(url, tok, c)).status, 200, 'a minute after the first request, it has left the window')
  clock += 1000
  const sliding = await get(url, tok, c)
  t.equal(sliding.status, 429, 'a sliding window: the request from 30 s ago still counts, where a fixed window would have started afresh')
  t.equal(sliding.headers['retry-after'], '29', 'until it leaves the window')
  t.equal(sim.stats.overBudget, 2)
})

t.test('an injected 429 says Retry-After: 1 and nothing of the limit, as Genesys', async (t) => {
  const { sim, url } = await start(t, { faults: { rateLimitRate: 1 } })
  const tok = await token(url)
  const a = await get(url, tok, id())
  t.equal(a.status, 429)
  t.equal(a.body.code, 'too.many.requests.retry.after')
  t.equal(a.headers['retry-after'], '1')
  t.same(rateHeaders(a), [])
  t.same([sim.stats.rateLimited, sim.stats.injected.rateLimited, sim.stats.overBudget], [1, 1, 0])
})

t.test('latency delays every answer within [min, max]', async (t) => {
  const min = 30
  const max = 70
  const { url } = await start(t, { faults: { seed: 11, latencyMs: { min, max } } })
  // The upper bound by order, not by a stopwatch a busy machine stretches: each answer is raced
  // against the same request to a simulator whose latency is 100 ms, sent at the same moment
  // (both wait on timers in this one process, which fire in order however late they fire).
  const slow = await start(t, { faults: { latencyMs: { min: 100, max: 100 } } })
  const tok = await token(url)
  const slowTok = await token(slow.url)
  const took: number[] = []
  const winners: string[] = []
  for (let i = 0; i < 30; i++) {
    const started = performance.now()
    const ask = (u: string, k: string) => i % 3 === 0 ? tokenCall(u) : i % 3 === 1 ? get(u, k, 'c') : patch(u, k, 'c', { i: String(i) })
    let winner = ''
    const [a] = await Promise.all([
      ask(url, tok).then((x) => { winner ||= 'within max'; took.push(performance.now() - started); return x }),
      ask(slow.url, slowTok).then((x) => { winner ||= 'the 100 ms one first'; return x }),
    ])
    winners.push(winner)
    t.ok(a.status === 200 || a.status === 202)
  }
  t.ok(Math.min(...took) >= min - 1, `never faster than min (${Math.min(...took).toFixed(1)} ms)`)
  t.same(winners.filter((w) => w !== 'within max'), [], 'never slower than max: every answer came before one delayed 100 ms, sent with it')
  t.ok(Math.max(...took) - Math.min(...took) >= 10, 'and spread out, not fixed')
})

t.test('recordRequests logs API arrivals with their statuses, 0 for drops', async (t) => {
  const { sim, url } = await start(t, { recordRequests: true, faults: { seed: 4, dropRate: 0.3, serverErrorRate: 0.2 } })
  const from = Date.now()
  const tok = await token(url)
  const expected: Array<{ method: string; path: string; status: number }> = []
  for (let i = 0; i < 30; i++) {
    const c = `c${i}`
    const a = i % 2 === 0 ? await get(url, tok, c) : await patch(url, tok, c, { i: String(i) })
    expected.push({ method: i % 2 === 0 ? 'GET' : 'PATCH', path: i % 2 === 0 ? `/api/v2/conversations/${c}` : `/api/v2/conversations/${c}/participants/p1/attributes`, status: a.status })
  }
  await call(url, 'GET', '/__sim/stats', {})
  const to = Date.now()
  t.same(sim.requests.map(({ method, path, status }) => ({ method, path, status })), expected, 'every API request, nothing else, in order')
  t.ok(expected.some((r) => r.status === 0) && expected.some((r) => r.status >= 500), 'drops and errors among them')
  t.ok(sim.requests.every((r, i) => r.at >= from && r.at <= to && r.at >= (sim.requests[i - 1]?.at ?? from)), 'arrival times in order')

  const quiet = await start(t, {})
  await get(quiet.url, await token(quiet.url), 'c')
  t.same(quiet.sim.requests, [], 'not recorded unless asked')
})

t.test('bad options throw, naming the option', async (t) => {
  const cases: Array<[SimulatorOptions, RegExp]> = [
    [{ faults: { conflictRate: -0.1 } }, /faults\.conflictRate/],
    [{ faults: { rateLimitRate: 1.5 } }, /faults\.rateLimitRate/],
    [{ faults: { serverErrorRate: Number.NaN } }, /faults\.serverErrorRate/],
    [{ faults: { dropRate: 2 } }, /faults\.dropRate/],
    [{ faults: { conflictRate: 0.5, dropRate: 0.6 } }, /conflictRate \+ rateLimitRate \+ serverErrorRate \+ dropRate must be at most 1/],
    [{ faults: { seed: 1.5 } }, /faults\.seed/],
    [{ faults: { latencyMs: { min: 50, max: 10 } } }, /faults\.latencyMs/],
    [{ faults: { latencyMs: { min: -1, max: 10 } } }, /faults\.latencyMs/],
    [{ rateLimit: { requests: 0 } }, /rateLimit\.requests/],
    [{ rateLimit: { requests: 10, windowMs: 0 } }, /rateLimit\.windowMs/],
  ]
  for (const [opts, message] of cases) t.throws(() => buildSimulator(opts), message, JSON.stringify(opts))
  t.doesNotThrow(() => buildSimulator({ faults: { conflictRate: 0.1, rateLimitRate: 0.2, serverErrorRate: 0.3, dropRate: 0.4 } }), 'rates adding up to exactly 1 are fine')
})
