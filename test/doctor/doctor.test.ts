import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { runDoctor, type Report } from '../../src/doctor/doctor.js'
import { buildSimulator, type SimulatorOptions } from '../../src/sim/simulator.js'
import { dist } from '../helpers/dist.js'
import { id, type Teardown } from '../helpers/stack.js'

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

t.test('an ended test call is not probed: unknown, with the reason', async (t) => {
  const { sim, env, c, p } = await org(t)
  sim.end(c)
  const report = await runDoctor(loadConfig(env), { probe: { conversationId: c, participantId: p }, pause: quick })
  t.equal(report.semantics, 'unknown')
  t.match(check(report, 'PATCH semantics'), { ok: false, detail: /has ended/ })
  t.equal(sim.stats.writes, 0)
})

t.test('the rate limit the token really has, from the answer headers', async (t) => {
  const { env } = await org(t, { rateLimit: { requests: 100 } })
  const low = await runDoctor(loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '300' }))
  t.match(check(low, 'Rate limit'), { ok: false, detail: /the token allows 100 requests a minute but GENESYS_RATE_LIMIT_PER_MINUTE=300: set it to 100 or less/ })
  t.notOk(low.ok)
  const fits = await runDoctor(loadConfig({ ...env, GENESYS_RATE_LIMIT_PER_MINUTE: '90' }))
  t.match(check(fits, 'Rate limit'), { ok: true, detail: /allows 100 requests a minute; the gateway spends at most 90/ })
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
