import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { markedShell } from '../helpers/readme.ts'

const root = new URL('../../', import.meta.url)

/** The curl the README shows for sandbox mode, exactly as a user would paste it. */
async function readmeCurl (): Promise<string> {
  return (await markedShell('sandbox-curl')).replaceAll('\\\n', ' ').trim()
}

/** `npm start` with no configuration, as a new user runs it; resolves once the sandbox banner names its address. */
async function npmStart (t: Test) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GENESYS_|API_KEYS|REDIS_URL|NODE_ENV|PORT|HOST)/.test(k)))
  const child = spawn('npm', ['start', '--silent'], { cwd: root, env: { ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {}
  })
  const out = { stdout: '', stderr: '' }
  child.stdout.on('data', (d) => (out.stdout += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no sandbox banner within 60 s:\n${out.stderr}\n${out.stdout}`)), 60_000)
    child.stderr.on('data', (d) => {
      out.stderr += d
      const m = out.stderr.match(/curl -s -X POST (http:\/\/[\d.]+:\d+)\//)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void exited.then((code) => reject(new Error(`npm start exited ${code}:\n${out.stderr}\n${out.stdout}`)))
  })
  return { child, base, out, exited }
}

t.test('npm start with no configuration serves the README curl from the sandbox', async (t) => {
  const { base, out } = await npmStart(t)
  t.match(out.stderr, /SANDBOX MODE/, 'a loud warning says this is the sandbox')
  t.match(out.stderr, /caller authentication is OFF/, 'and that auth is off')

  const curl = (await readmeCurl()).replace('http://127.0.0.1:3000', base)
  const { stdout: answer } = await promisify(execFile)('sh', ['-c', curl])
  const body = JSON.parse(answer)
  t.equal(body.attributes.customer_tier, 'gold')
  t.equal(body.attributes.visits, '3')
  t.same(body.updated, ['customer_tier', 'visits'])
  t.match(out.stdout, /"level":40.*SANDBOX MODE/, 'the warning is in the structured log too')
})

t.test('production without credentials refuses to start, naming what is missing', async (t) => {
  const run = promisify(execFile)
  // dist/ is built once before the tests (test/build.mjs).
  const err = await run('node', ['dist/server.js'], { cwd: root, env: { PATH: process.env.PATH, NODE_ENV: 'production' } }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e
  )
  t.equal(err?.code, 1, 'exit code 1')
  t.match(err?.stderr, /GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET: required when NODE_ENV=production/)
  t.match(err?.stderr, /API_KEYS: required when NODE_ENV=production/)
})

t.test('SIGTERM sent to npm start (as a process manager sends it) reaches the service, which shuts down', async (t) => {
  const { child, base, out, exited } = await npmStart(t)
  // To npm's own process only, not its group: what `kill PID` or a supervisor does.
  process.kill(child.pid!, 'SIGTERM')
  const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))])
  t.not(code, 'hung', 'npm start ended')
  t.match(out.stdout, /"msg":"shut down"/, 'the service itself shut down gracefully')
  const answered = await fetch(`${base}/healthz`).then(() => true, () => false)
  t.notOk(answered, 'and its port is closed')
})

t.test('outside sandbox without API_KEYS, start-up says loudly that authentication is off', async (t) => {
  const { buildSimulator } = await import('../../src/sim/simulator.ts')
  const { startService } = await import('../helpers/process.ts')
  const sim = buildSimulator({ clientId: 'c', clientSecret: 's' })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const service = await startService(t, { GENESYS_API_URL: url, GENESYS_LOGIN_URL: url, GENESYS_CLIENT_ID: 'c', GENESYS_CLIENT_SECRET: 's' })
  const { until } = await import('../helpers/until.ts')
  // Waited for, not slept on: the warning comes once start-up is over, which is after it listens.
  await until(() => service.stdout(), (out) => /API_KEYS is not set/.test(out), { what: 'the warning about API_KEYS' })
  t.match(service.stdout(), /"level":40.*API_KEYS is not set: caller authentication is OFF/)
  service.child.kill('SIGTERM')
  await service.exited
})
