import { execFile } from 'node:child_process'
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { serviceFlags } from '../../bench/service-flags.ts'
import { loadConfig, VARIABLES } from '../../src/config.ts'
import { simEnv } from '../../src/sim/env.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { startService, type ServiceProcess } from '../helpers/process.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, send } from '../helpers/stack.ts'
import { dist } from '../helpers/dist.ts'

const run = promisify(execFile)
const root = new URL('../../', import.meta.url)
const read = (file: string) => readFile(new URL(file, root), 'utf8')

/** The Dockerfile's runtime stage: its ENV, RUN, HEALTHCHECK and CMD, as the image would use them. */
async function runtimeStage () {
  const lines = (await read('Dockerfile')).split('\n')
  const stages = lines.filter((l) => l.startsWith('FROM '))
  const stage = lines.slice(lines.lastIndexOf(stages.at(-1)!))
  const arg = (keyword: string) => stage.filter((l) => l.startsWith(`${keyword} `)).map((l) => l.slice(keyword.length + 1))
  const env = Object.fromEntries(arg('ENV').map((e) => e.split('=') as [string, string]))
  const json = (s: string) => JSON.parse(s.slice(s.indexOf('['))) as string[]
  return { stages, env, run: arg('RUN'), copy: arg('COPY'), user: arg('USER')[0], cmd: json(arg('CMD')[0]!), healthcheck: json(arg('HEALTHCHECK')[0]!) }
}

t.test('Dockerfile: multi-stage, production settings, a non-root user, a health check', async (t) => {
  const image = await runtimeStage()
  t.equal(image.stages.length, 2, 'a build stage and a runtime stage')
  t.match(image.stages[0], / AS build$/)
  t.same(image.env, { NODE_ENV: 'production', HOST: '0.0.0.0', PORT: '3000' })
  t.ok(image.run.some((r) => /^npm ci --omit=dev/.test(r)), 'runtime installs without dev dependencies')
  t.ok(image.copy.includes('--from=build /app/dist ./dist'), 'and takes only the compiled output from the build')
  t.equal(image.user, 'node', 'runs as the unprivileged node user')
  t.same(image.cmd, ['node', '--max-semi-space-size=32', 'dist/server.js'])
  // The benchmark takes the flags from npm start, so npm start must run what the image runs.
  t.same(['node', ...serviceFlags(await read('package.json')), 'dist/server.js'], image.cmd, 'npm start runs the same command as the image')
  const ignored = (await read('.dockerignore')).split('\n')
  for (const entry of ['node_modules', 'dist', '.git', '.env']) t.ok(ignored.includes(entry), `.dockerignore keeps ${entry} out of the build context`)
})

t.test('the Node flags come from npm start, and anything but "node [--flags] dist/server.js" is refused', async (t) => {
  const pkg = (start?: string) => JSON.stringify({ scripts: start === undefined ? {} : { start } })
  t.same(serviceFlags(pkg('npm run build --silent && node dist/server.js')), [])
  t.same(serviceFlags(pkg('npm run build --silent && exec node --max-semi-space-size=32 dist/server.js')), ['--max-semi-space-size=32'])
  t.same(serviceFlags(pkg('npm run build && node --max-semi-space-size=32  --enable-source-maps dist/server.js')), ['--max-semi-space-size=32', '--enable-source-maps'])
  for (const start of ['NODE_OPTIONS=--x node dist/server.js', 'node -r x dist/server.js', 'node --max-semi-space-size 32 dist/server.js', 'node ./dist/server.js', 'tsx src/server.ts', undefined]) {
    t.throws(() => serviceFlags(pkg(start)), /npm start must end in/, `refused: ${start}`)
  }
})

t.test("the image's steps, run here: clean install without dev dependencies, the image's command on the built output", async (t) => {
  const image = await runtimeStage()
  const app = await mkdtemp(join(tmpdir(), 'pdg-image-'))
  t.teardown(() => rm(app, { recursive: true, force: true }))
  for (const f of ['package.json', 'package-lock.json']) await cp(new URL(f, root), join(app, f))
  const install = image.run.find((r) => r.startsWith('npm ci'))!.split(' && ')[0]!
  await run('sh', ['-c', install], { cwd: app, env: { ...process.env, npm_config_prefer_offline: 'true' } })
  const installed = await readdir(join(app, 'node_modules'))
  t.ok(installed.includes('fastify') && !installed.includes('tap') && !installed.includes('typescript') && !installed.includes('testcontainers'), 'runtime dependencies only')
  await cp(new URL('dist', root), join(app, 'dist'), { recursive: true }) // the build stage's output, as COPY --from=build takes it

  const sim = buildSimulator({ clientId: 'image', clientSecret: 'image-secret' })
  const simUrl = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const svc = await startService(
    t,
    { ...image.env, PORT: '0', GENESYS_CLIENT_ID: 'image', GENESYS_CLIENT_SECRET: 'image-secret', GENESYS_API_URL: simUrl, GENESYS_LOGIN_URL: simUrl, API_KEYS: 'ops:ops-key' },
    { command: image.cmd, cwd: app }
  )
  const c = id()
  const a = await send(`${svc.url}/conversations/${c}/data`, 'POST', { attributes: { customer_tier: 'gold' } }, { 'x-api-key': 'ops-key' })
  t.equal(a.status, 200, 'the service answers from the image layout')
  const port = new URL(svc.url).port
  const health = await run(image.healthcheck[0]!, image.healthcheck.slice(1), { cwd: app, env: { ...process.env, PORT: port } })
    .then(() => 0, (e: { code: number }) => e.code)
  t.equal(health, 0, 'the HEALTHCHECK command passes against it')
  svc.child.kill('SIGTERM')
  t.equal((await svc.exited).code, 0, 'and it stops cleanly on SIGTERM')
})

/** docker-compose.yml, with its YAML merge keys resolved. */
async function compose () {
  return parse(await read('docker-compose.yml'), { merge: true }) as { services: Record<string, { environment?: Record<string, string>; ports?: string[]; command?: string[]; depends_on?: Record<string, { condition: string }>; healthcheck?: unknown; image?: string }> }
}

t.test('docker-compose.yml sets only variables the services read, and its addresses line up', async (t) => {
  const { services } = await compose()
  const gateways = Object.entries(services).filter(([name]) => name.startsWith('gateway'))
  t.equal(gateways.length, 2, 'two gateway replicas')
  const image = await runtimeStage()
  for (const [name, svc] of gateways) {
    const env = svc.environment!
    t.same(Object.keys(env).filter((v) => !VARIABLES.includes(v)), [], `${name}: every variable is one the gateway reads`)
    t.doesNotThrow(() => loadConfig({ ...image.env, ...env }), `${name}: and the configuration is valid in production`)
    const port = env.PORT ?? image.env.PORT
    t.match(svc.ports?.[0], new RegExp(`^\\d+:${port}$`), `${name}: publishes the port it listens on`)
    t.equal(svc.command, undefined, `${name}: runs the image's command, Node flags included`)
    for (const dep of Object.keys(svc.depends_on ?? {})) {
      t.equal(svc.depends_on![dep]!.condition, 'service_healthy', `${name} waits for ${dep} to be healthy`)
      t.ok(services[dep]?.healthcheck, `${dep} has a health check`)
    }
    const api = new URL(env.GENESYS_API_URL!)
    const sim = services[api.hostname]!
    t.equal(api.port, sim.environment!.SIM_PORT, `${name}: GENESYS_API_URL points at the simulator's port`)
    t.equal(env.GENESYS_CLIENT_ID, sim.environment!.SIM_CLIENT_ID, `${name}: with the simulator's client`)
    t.ok(services[new URL(env.REDIS_URL!).hostname], `${name}: REDIS_URL names the redis service`)
  }
  const simVars = Object.keys(simEnv.shape)
  t.same(Object.keys(services.simulator!.environment!).filter((v) => !simVars.includes(v)), [], 'the simulator: every variable is one it reads')
  t.equal(simEnv.safeParse(services.simulator!.environment).success, true)
})

t.test('.env.example lists every variable with its real default', async (t) => {
  const text = await read('.env.example')
  const lines = text.split('\n').filter((l) => /^[A-Z_]+=/.test(l))
  const env = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  const commented = text.split('\n').flatMap((l) => l.match(/^# ?([A-Z_]+)=/)?.[1] ?? [])
  t.same([...Object.keys(env), ...commented].sort(), [...VARIABLES].sort(), 'each variable the service reads, once (set or shown commented out)')
  t.same(loadConfig(env), loadConfig({}), 'and the values shown are the defaults')
  // `docker run --env-file .env` would override the image's HOST=0.0.0.0 and NODE_ENV=production.
  t.same(Object.keys(env).filter((v) => v === 'HOST' || v === 'NODE_ENV'), [], 'HOST and NODE_ENV are not set, so the image keeps its own')
})

/** The compose stack's scenario: a write through one replica, seen through the other. */
async function scenario (t: Test, gateway1: string, gateway2: string, apiKey: string) {
  const key = { 'x-api-key': apiKey }
  const c = id()
  const written = await send(`${gateway1}/conversations/${c}/data`, 'POST', { attributes: { customer_tier: 'gold' } }, key)
  t.equal(written.status, 200, 'the README curl works through gateway-1')
  const p = written.body.participantId
  const more = await send(`${gateway2}/participants/${c}/${p}/data`, 'POST', { attributes: { crm_id: 'A-1' } }, key)
  t.same(more.body.attributes, { customer_tier: 'gold', crm_id: 'A-1' }, 'gateway-2 writes on top of it')
  const back = await send(`${gateway1}/participants/${c}/${p}/data`, 'GET', undefined, key)
  t.same(back.body.attributes, { customer_tier: 'gold', crm_id: 'A-1' }, 'and gateway-1 reads it back')
  for (const g of [gateway1, gateway2]) t.equal((await send(`${g}/readyz`, 'GET')).status, 200, `${g} is ready`)
}

t.test('the compose stack end to end: in containers where a runtime answers, else as local processes', async (t) => {
  const { services } = await compose()
  const env1 = services['gateway-1']!.environment!
  const apiKey = env1.API_KEYS!.split(':')[1]!
  let runtime = false
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
    runtime = true
  } catch {}
  if (runtime) {
    const { DockerComposeEnvironment } = await import('testcontainers')
    const stack = await new DockerComposeEnvironment(root.pathname, 'docker-compose.yml').withBuild().up()
    t.teardown(() => stack.down())
    const url = (name: string) => {
      const c = stack.getContainer(`${name}-1`)
      return `http://${c.getHost()}:${c.getMappedPort(3000)}`
    }
    return scenario(t, url('gateway-1'), url('gateway-2'), apiKey)
  }
  t.comment('NOT RUN IN CONTAINERS: no container runtime answered, so the image was not built and docker-compose.yml was not started.')
  t.comment('The same scenario runs below against local processes with the compose file\'s settings.')
  const redis = await startRedis(t)
  const simSettings = services.simulator!.environment!
  const sim = await startService(
    t,
    { ...simSettings, SIM_HOST: '127.0.0.1', SIM_PORT: '0' },
    { command: dist('sim/main.js'), cwd: root }
  )
  const image = await runtimeStage()
  const gateway = (name: string): Promise<ServiceProcess> => {
    const env = { ...image.env, ...services[name]!.environment!, PORT: '0', HOST: '127.0.0.1', GENESYS_API_URL: sim.url, GENESYS_LOGIN_URL: sim.url, REDIS_URL: redis.url }
    return startService(t, env)
  }
  const [g1, g2] = await Promise.all([gateway('gateway-1'), gateway('gateway-2')])
  await scenario(t, g1.url, g2.url, apiKey)
})
