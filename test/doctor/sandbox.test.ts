import { execFile } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import type { Report } from '../../src/doctor/doctor.ts'
import { dist } from '../helpers/dist.ts'
import { startService } from '../helpers/process.ts'
import { id, send } from '../helpers/stack.ts'

// docs/going-live.md's walk-through in sandbox: the README's write to `npm start`, then
// `npm run -s doctor -- --conversation C --participant P` on those ids, each its own process.

const root = new URL('../../', import.meta.url)

/** A port nothing listens on (it was free a moment ago; nothing here starts on it). */
function freePort (): Promise<string> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(String(port)))
    })
  })
}

/** The doctor as a user runs it, in sandbox: no Genesys credentials, no Redis, nothing from the test's environment. */
function doctor (env: Record<string, string>, ...args: string[]) {
  const [node, ...cli] = dist('doctor/cli.js')
  return promisify(execFile)(node!, [...cli, ...args], { cwd: root, env: { PATH: process.env.PATH, NODE_ENV: 'test', ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e
  )
}

const check = (report: Report, name: string) => report.checks.find((x) => x.name.startsWith(name))

t.test('the probe reaches the simulator of the sandbox running on the same PORT (npm start)', async (t) => {
  const gateway = await startService(t, {})
  const port = new URL(gateway.url).port
  const c = id()
  const p = id()
  const written = await send(`${gateway.url}/participants/${c}/${p}/data`, 'POST', { attributes: { customer_tier: 'gold', visits: 3 } })
  t.equal(written.status, 200)

  const out = await doctor({ PORT: port, SIM_PORT: await freePort() }, '--json', '--conversation', c, '--participant', p)
  const report = JSON.parse(out.stdout) as Report
  t.equal(out.code, 0, report.checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`).join('; ') || 'every check passed')
  t.match(report, { ok: true, semantics: 'merge' })
  t.match(check(report, 'Genesys Cloud region'), { ok: true, detail: new RegExp(`the simulator of the sandbox gateway on 127\\.0\\.0\\.1:${port} \\(PORT`) })
  // Put back as it was, seen through the gateway the user wrote with.
  const read = await send(`${gateway.url}/participants/${c}/${p}/data`, 'GET')
  t.match(read.body.attributes, { customer_tier: 'gold', visits: '3' })
})

t.test('the probe reaches npm run sim on SIM_PORT when no sandbox gateway runs', async (t) => {
  const sim = await startService(t, { SIM_PORT: '0' }, { command: dist('sim/main.js'), cwd: root })
  const c = id()
  const p = id()
  const created = await send(`${sim.url}/__sim/conversations`, 'POST', { id: c, participants: [{ id: p, purpose: 'customer', attributes: { tier: 'gold' } }, { purpose: 'agent' }] })
  t.equal(created.status, 201)

  const out = await doctor({ PORT: await freePort(), SIM_PORT: new URL(sim.url).port }, '--json', '--conversation', c, '--participant', p)
  const report = JSON.parse(out.stdout) as Report
  t.equal(out.code, 0, report.checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`).join('; ') || 'every check passed')
  t.match(report, { ok: true, semantics: 'merge' })
  t.match(check(report, 'Genesys Cloud region'), { detail: /the simulator of npm run sim on 127\.0\.0\.1:\d+ \(SIM_PORT\)/ })
})

t.test('with no sandbox running, the doctor says so, and does not probe a simulator that cannot hold the call', async (t) => {
  const env = { PORT: await freePort(), SIM_PORT: await freePort() }
  const probed = await doctor(env, '--conversation', id(), '--participant', id())
  t.equal(probed.code, 1)
  t.match(probed.stdout, new RegExp(`^ {2}FAIL {2}PATCH semantics \\(merge or replace\\): not probed: no sandbox gateway answers on 127\\.0\\.0\\.1:${env.PORT} \\(PORT\\) and no npm run sim on 127\\.0\\.0\\.1:${env.SIM_PORT} \\(SIM_PORT\\)`, 'm'))
  t.match(probed.stdout, /Start npm start \(with the same PORT\) or npm run sim in another terminal/)
  t.notMatch(probed.stdout, /is not in conversation/, 'not the misleading answer of a simulator of its own')

  // Without a probe, the checks of the configuration still run, on a simulator of its own, and say so.
  const plain = await doctor(env, '--json')
  t.equal(plain.code, 0)
  t.match(check(JSON.parse(plain.stdout) as Report, 'Genesys Cloud region'), { ok: true, detail: /^a simulator of the doctor's own \(no sandbox gateway answers/ })
})
