// `npm run bench:profile [-- merge|patch|async]`: a CPU profile of this service under the spread
// scenario, and the functions (and packages) that took the most time themselves. `async` is patch
// mode taking the updates with `Prefer: respond-async`, stored in a private redis-server. The .cpuprofile file opens
// in Chrome DevTools or speedscope for the flame graph.
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { redisServer, root, SERVICE_NODE_FLAGS, serviceEnv, simulator, start, stop, update } from './processes.ts'

const arg = process.argv[2]
const mode = arg === 'patch' || arg === 'async' ? 'patch' : 'merge'
const async = arg === 'async'

const sim = await simulator()
const redis = async ? await redisServer() : undefined
if (async && redis === undefined) throw new Error('redis-server did not start (is it installed?)')
const dir = await mkdtemp(join(tmpdir(), 'pdg-profile-'))
const svc = await start([process.execPath, ...SERVICE_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`, 'dist/server.js'], { ...serviceEnv(sim.url, mode), ...(redis && { REDIS_URL: redis.url }) }, '/healthz')
const targets = Array.from({ length: 1000 }, () => ({ c: randomUUID(), p: randomUUID() }))
const result = await autocannon({
  url: svc.url,
  connections: 50,
  duration: 10,
  requests: [{ method: 'POST', setupRequest: (req) => update(req, targets[Math.floor(Math.random() * targets.length)]!, 'k', async) }],
})
await stop(svc.child)
await stop(sim.child)
if (redis) await stop(redis.child)

const file = join(dir, (await readdir(dir))[0]!)
const profile = JSON.parse(await readFile(file, 'utf8')) as { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[] }
const self = new Map<number, number>()
for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1)
const byFunction = new Map<string, number>()
for (const node of profile.nodes) {
  const { functionName, url: at, lineNumber } = node.callFrame
  const where = `${functionName || '(anonymous)'} ${at.replace(/^.*node_modules\//, '').replace(`file://${root}`, '')}:${lineNumber + 1}`
  byFunction.set(where, (byFunction.get(where) ?? 0) + (self.get(node.id) ?? 0))
}
const total = profile.samples.length
console.log(`${mode} mode${async ? ', async (Redis)' : ''}, spread, 50 connections: ${result.requests.average.toFixed(0)} req/s, p99 ${result.latency.p99} ms`)
console.log(`profile: ${file}\n\nself time, top 25:`)
for (const [where, n] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((n / total) * 100).toFixed(1).padStart(5)}%  ${where}`)

// Where the time went, by package (or this service's folder): a library that dominates shows here.
const byPackage = new Map<string, number>()
for (const node of profile.nodes) {
  const at = node.callFrame.url.replace(/^.*node_modules\//, '').replace(`file://${root}`, '').split('/').slice(0, 2).join('/') || '(native, idle, gc)'
  byPackage.set(at, (byPackage.get(at) ?? 0) + (self.get(node.id) ?? 0))
}
console.log('\nself time by package, top 12:')
for (const [where, n] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${((n / total) * 100).toFixed(1).padStart(5)}%  ${where}`)
