import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { runDoctor, type Report } from '../../src/doctor/doctor.ts'
import { buildSimulator, type SimulatorOptions } from '../../src/sim/simulator.ts'
import { Redis } from 'ioredis'
import { logSettings } from '../../src/updates/budget.ts'
import { RedisBudgetLog } from '../../src/coordination/budget-log-redis.ts'
import { dist } from '../helpers/dist.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, type Teardown } from '../helpers/stack.ts'

// The doctor against the real simulator over HTTP, as it would meet a real org.

const root = new URL('../../', import.meta.url)
const SECRET = 'the-right-secret-0123456789'
const quick = () => Promise.resolve()

async function org (t: Teardown, opts: SimulatorOptions = {}) {
  const sim = buildSimulator({ clientId: 'doctor-client', clientSecret: SECRET, strict: true, ...opts })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const env = {
    NODE_ENV: 'test',
    GENESYS_CLIENT_ID: 'doctor-client',
    GENESYS_CLIENT_SECRET: SECRET,
    GENESYS_API_URL: url,
    GENESYS_LOGIN_URL: url,
    PUBLIC_URL: 'https://gateway.example.com',
    API_KEYS: 'flow:flow-key-0123456789abcdef0123,crm:crm-key-0123456789abcdef01234:bulk',
  }
  // A test call with a customer who already has attributes a flow set.
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { tier: 'gold', crm_id: '42' } }, { id: id(), purpose: 'agent' }] })
  return { sim, env, c, p }
}

const check = (report: Report, name: string) => report.checks.find((x) => x.name.startsWith(name))

t.test('merge: found, the advice given, every attribute unchanged afterwards, probe keys emptied', async (t) => {
  const { sim, env, c, p } = await org(t, { semantics: 'merge' })
  const report = await runDoctor(loadConfig(env), { probe: { conversationId: c, participantId: p }, pause: quick })
  t.equal(report.semantics, 'merge')
  t.ok(report.ok, JSON.stringify(report.checks.filter((x) => !x.ok)))
  t.match(check(report, 'PATCH semantics')!.detail, /^merge: GENESYS_WRITE_MODE=patch halves Genesys requests per write/)
  t.match(check(report, 'PATCH semantics')!.detail, /left empty \(""\) as the API has no way to remove a key/)
  t.same(sim.attributes(c, p), { tier: 'gold', crm_id: '42', pdg_doctor_probe_1: '', pdg_doctor_probe_2: '' })
  t.equal(sim.stats.writes, 3, 'two probes and the restore')
})

t.test('replace: found, and the participant put back exactly, probe keys gone', async (t) => {
  const { sim, env, c, p } = await org(t, { semantics: 'replace' })
  const report = await runDoctor(loadConfig(env), { probe: { conversationId: c, participantId: p }, pause: quick })
  t.equal(report.semantics, 'replace')
  t.ok(report.ok)
  t.match(check(report, 'PATCH semantics')!.detail, /^replace: keep GENESYS_WRITE_MODE=merge .*the probe keys removed$/)
  t.same(sim.attributes(c, p), { tier: 'gold', crm_id: '42' })
})

t.test('replace with GENESYS_WRITE_MODE=patch fails: that mode would erase attributes', async (t) => {
  const { sim, env, c, p } = await org(t, { semantics: 'replace' })
  const report = await runDoctor(loadConfig({ ...env, GENESYS_WRITE_MODE: 'patch' }), { probe: { conversationId: c, participantId: p }, pause: quick })
  t.notOk(report.ok)
  t.match(check(report, 'PATCH semantics'), { ok: false, detail: /set GENESYS_WRITE_MODE=merge/ })
  t.same(sim.attributes(c, p), { tier: 'gold', crm_id: '42' })
})

t.test('a Genesys that shows writes 400 ms late: the probe waits for each write, says how long it took, and still tells merge', async (t) => {
  let now = Date.now()
  const { sim, env, c, p } = await org(t, { semantics: 'merge', readLagMs: 400, clock: () => now })
  // Each pause between reads moves the simulator's clock, as the time would pass.
  const pause = async (ms: number) => {
    now += ms
  }
  const report = await runDoctor(loadConfig(env), { probe: { conversationId: c, participantId: p }, pause, clock: () => now })
  t.equal(report.semantics, 'merge')
  t.match(check(report, 'PATCH semantics')!.detail, /a write showed after 500 ms/, 'two reads 250 ms apart')
  t.match(check(report, 'PATCH semantics')!.detail, /put back: every attribute as it was/, 'the restore, read back once it showed')
  t.same(sim.attributes(c, p), { tier: 'gold', crm_id: '42', pdg_doctor_probe_1: '', pdg_doctor_probe_2: '' })
})

t.test('a write that never shows: unknown after 10 s, said so', async (t) => {
  let now = Date.now()
  const { env, c, p } = await org(t, { readLagMs: 60_000, clock: () => now })
  const report = await runDoctor(loadConfig(env), { probe: { conversationId: c, participantId: p }, pause: async (ms) => { now += ms }, clock: () => now })
  t.equal(report.semantics, 'unknown')
  t.match(check(report, 'PATCH semantics'), { ok: false, detail: /the first probe key did not show within 10 s/ })
})

t.test('an ended test call is not probed: unknown, with the reason', async (t) => {
  const { sim, env, c, p } = await org(t)
  sim.end(c)
  const report = await runDoctor(loadConfig(env), { probe: { conversationId: c, participantId: p }, pause: quick })
  t.equal(report.semantics, 'unknown')
  t.match(check(report, 'PATCH semantics'), { ok: false, detail: /has ended/ })
  t.equal(sim.stats.writes, 0)
})

t.test('the rate limit: configured, and the one learned from the last 429, on every replica', async (t) => {
  const { env } = await org(t, { rateLimit: { requests: 100 } })
  const alone = await runDoctor(loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }))
  t.match(check(alone, 'Rate limit'), { ok: true, detail: /^the org allows 100 requests a minute \(Limits API\): GENESYS_RATE_LIMIT_PER_MINUTE=300 is above it, so the org's 100 binds; unset it, or set 100 or less; without Redis each process learns its own/ }, "the org's limit beside the configured one")
  t.match(check(await runDoctor(loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '' })), 'Rate limit')!.detail, /^the org allows 100 requests a minute \(Limits API\), and the gateway spends that \(GENESYS_RATE_LIMIT_PER_MINUTE is unset\)/)
  t.match(check(await runDoctor(loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '20' })), 'Rate limit')!.detail, /^the org allows 100 requests a minute \(Limits API\), but GENESYS_RATE_LIMIT_PER_MINUTE=20 spends 20: unset it to use 100, unless other integrations share this OAuth client/, 'a ceiling far below the org costs throughput, and it says so')
  const refused = await org(t, { rateLimit: { requests: 100 }, limitsApi: 'forbidden' })
  t.match(check(await runDoctor(loadConfig({ ...refused.env, GENESYS_RATE_LIMIT_PER_MINUTE: '' })), 'Rate limit')!.detail, /^the org's limit could not be read from the Limits API \(.*\): the gateway spends 300 a minute \(GENESYS_RATE_LIMIT_PER_MINUTE is unset, Genesys's default\)/)

  // Replicas sharing Redis: 61 requests went out in the last minute, and one met a 429.
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const shared = new RedisBudgetLog(client, 'pdg:doctor-client:', logSettings(300, 60_000))
  const { ids } = await shared.reserve({ now: Date.now(), units: 61, ahead: 0, live: true, withinMs: 5000 })
  for (const unit of ids) await shared.send(unit, Date.now())
  for (const unit of ids.slice(1)) await shared.answered(unit, Date.now())
  await shared.refused(Date.now(), 30_000)
  const config = loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '300', REDIS_URL: redis.url })
  const learned = check(await runDoctor(config), 'Rate limit')!
  t.notOk(learned.ok)
  t.match(learned.detail, /^the org allows 100 .*; but Genesys's 429 \d+ s ago showed this token allowed 60 requests a minute: the budget on every replica \(Redis\) now spends at most 60 a minute .*set GENESYS_RATE_LIMIT_PER_MINUTE to 60 or less.*paused for (29|30) s more/)

  // The console's doctor asks the service's own budget.
  const own = await runDoctor(loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '90' }), { budget: async () => ({ limit: 90, pausedMs: 0 }) })
  t.match(check(own, 'Rate limit'), { ok: true, detail: /^the org allows 100 requests a minute \(Limits API\); GENESYS_RATE_LIMIT_PER_MINUTE=90 keeps the gateway at 90; no 429 holds it lower on this service$/ })
})

t.test('outside sandbox: PUBLIC_URL must be https, and API keys long and distinct', async (t) => {
  const { env } = await org(t)
  // One key under two names no longer starts at all (issue 33): loadConfig refuses it.
  const report = await runDoctor(loadConfig({ ...env, PUBLIC_URL: 'http://gateway.example.com', API_KEYS: 'a:short,b:short2' }))
  t.match(check(report, 'PUBLIC_URL'), { ok: false, detail: /is not https/ })
  const keys = check(report, 'API keys')!
  t.match(keys, { ok: false, detail: /^a, b: shorter than 24 characters/ })
  t.notMatch(keys.detail, /short[,;]/, 'names, never keys')
  const unset = await runDoctor(loadConfig({ ...env, PUBLIC_URL: '' }))
  t.match(check(unset, 'PUBLIC_URL'), { ok: false, detail: /not set/ })
})

t.test('a check that cannot run is listed as skipped, so the report always counts every check', async (t) => {
  const { env, c, p } = await org(t)
  // Port 9 (discard): nothing answers there, so the login host does not.
  const nowhere = { ...env, GENESYS_API_URL: 'http://127.0.0.1:9', GENESYS_LOGIN_URL: 'http://127.0.0.1:9' }
  const down = await runDoctor(loadConfig(nowhere), { probe: { conversationId: c, participantId: p } })
  t.same(down.checks.map((x) => [x.name.split(' (')[0], x.ok, x.skipped ?? false]), [
    ['Genesys Cloud region', false, false],
    ['OAuth client', false, true],
    ['Conversations API with this token', false, true],
    ['Rate limit of the token', false, true],
    ['PATCH semantics', false, true],
    ['Redis', true, false],
    ['PUBLIC_URL', true, false],
    ['API keys and signing secrets', true, false],
  ])
  t.match(check(down, 'OAuth client'), { detail: 'not checked: it needs "Genesys Cloud region" to pass' })

  // A refused OAuth client: what follows it is skipped; the CLI counts all seven.
  const human = await doctor({ ...env, GENESYS_CLIENT_SECRET: 'wrong-secret-0123456789' })
  t.equal(human.code, 1)
  t.match(human.stdout, /^ {2}skip {2}Conversations API with this token: not checked: it needs "OAuth client" to pass$/m)
  t.match(human.stdout, /^1 of 7 checks failed, 2 skipped \(they need one that failed\)\.$/m)
  const json = JSON.parse((await doctor({ ...env, GENESYS_CLIENT_SECRET: 'wrong-secret-0123456789' }, '--json')).stdout) as Report
  t.match(check(json, 'Rate limit'), { ok: false, skipped: true })
  t.equal(json.checks.length, 7)
})

t.test('Redis not configured: the report says what the gateway does with asynchronous updates', async (t) => {
  const { env } = await org(t)
  // With credentials, outside production: accepted and kept in memory, as docs/crm.md says.
  const dev = check(await runDoctor(loadConfig({ ...env, NODE_ENV: 'development' })), 'Redis')!
  t.match(dev, { ok: true, detail: /one replica; asynchronous updates \(Prefer: respond-async\) are accepted and kept in this process's memory: lost if it stops/ })
  t.notMatch(dev.detail, /only in sandbox/)
  const production = check(await runDoctor(loadConfig({ ...env, NODE_ENV: 'production' })), 'Redis')!
  t.match(production, { ok: true, detail: /Prefer: respond-async is not applied \(NODE_ENV=production\): every write is answered when it is written/ })
})

/** A redis-server of this test's own, in a directory of its own: AOF writes files. */
async function redisServer (t: Teardown, appendonly: 'yes' | 'no'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'doctor-redis-'))
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', appendonly, '--dir', dir], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(async () => {
    child.kill()
    await once(child, 'exit')
    await rm(dir, { recursive: true, force: true })
  })
  let out = ''
  for await (const chunk of child.stdout) if (/Ready to accept connections/.test(out += chunk)) break
  return `redis://127.0.0.1:${port}`
}

t.test('Redis: reachable and persisting, or said plainly why not', async (t) => {
  const { env } = await org(t)
  const off = await runDoctor(loadConfig({ ...env, REDIS_URL: await redisServer(t, 'no') }))
  t.match(check(off, 'Redis'), { ok: false, detail: /AOF is off/ })
  const on = await runDoctor(loadConfig({ ...env, REDIS_URL: await redisServer(t, 'yes') }))
  t.match(check(on, 'Redis'), { ok: true, detail: /persisting/ })
  // Port 9 (discard): nothing listens there.
  const down = await runDoctor(loadConfig({ ...env, REDIS_URL: 'redis://127.0.0.1:9' }))
  t.match(check(down, 'Redis'), { ok: false, detail: /^unreachable/ })
})

/** The doctor as a user runs it: its own process, the environment as the service's. */
function doctor (env: Record<string, string>, ...args: string[]) {
  const [node, ...cli] = dist('doctor/cli.js')
  return promisify(execFile)(node!, [...cli, ...args], { cwd: root, env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e
  )
}

t.test('CLI: a wrong client secret names the OAuth client failing, exits 1, and never prints the secret', async (t) => {
  const { env, c, p } = await org(t)
  const wrong = 'wrong-secret-do-not-print-9876'
  const json = await doctor({ ...env, GENESYS_CLIENT_SECRET: wrong }, '--json', '--conversation', c, '--participant', p)
  t.equal(json.code, 1)
  const report = JSON.parse(json.stdout) as Report
  t.match(report, { ok: false, semantics: 'unknown' })
  t.match(check(report, 'OAuth client'), { ok: false, detail: /^Genesys refused the OAuth client doctor-client \(HTTP 401, invalid_client\)/ })
  const human = await doctor({ ...env, GENESYS_CLIENT_SECRET: wrong })
  t.equal(human.code, 1)
  t.match(human.stdout, /^ {2}FAIL {2}OAuth client: Genesys refused/m)
  for (const out of [json.stdout, json.stderr, human.stdout, human.stderr]) t.notMatch(out, wrong, 'the secret is not echoed')
})

t.test('CLI: every check passing exits 0, with the semantics found; a bad command line exits 2', async (t) => {
  const { env, c, p } = await org(t)
  const ok = await doctor(env, '--json', '--conversation', c, '--participant', p)
  t.equal(ok.code, 0, JSON.parse(ok.stdout).checks.filter((x: { ok: boolean }) => !x.ok).map((x: { name: string }) => x.name).join(', ') || 'every check passed')
  t.match(JSON.parse(ok.stdout), { ok: true, semantics: 'merge' })
  const bad = await doctor(env, '--conversation', c)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--conversation and --participant go together/)
})
