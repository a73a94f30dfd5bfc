// `npm run bench:profile [-- merge|patch]`: a CPU profile of this service under the spread
// scenario, and the functions that took the most time themselves. The .cpuprofile file opens
// in Chrome DevTools or speedscope for the flame graph.
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { redisServer, root, SERVICE_NODE_FLAGS, serviceEnv, simulator, start, stop, update } from '../bench/processes.js'

const mode = process.argv[2] === 'patch' ? 'patch' : 'merge'

const sim = await simulator()
const redis = (await redisServer())!
const dir = await mkdtemp(join(tmpdir(), 'pdg-profile-'))
const svc = await start([process.execPath, ...SERVICE_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`, 'dist/server.js'], { ...serviceEnv(sim.url, 'patch'), REDIS_URL: redis.url }, '/healthz')
const targets = Array.from({ length: 1000 }, () => ({ c: randomUUID(), p: randomUUID() }))
const result = await autocannon({
  url: svc.url,
  connections: 50,
  duration: 10,
  requests: [{ method: 'POST', setupRequest: (req) => update(req, targets[Math.floor(Math.random() * targets.length)]!, 'k', true) }],
})
await stop(svc.child)
await stop(sim.child)
await stop(redis.child)

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
console.log(`${mode} mode, spread, 50 connections: ${result.requests.average.toFixed(0)} req/s, p99 ${result.latency.p99} ms`)
console.log(`profile: ${file}\n\nself time, top 25:`)
for (const [where, n] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((n / total) * 100).toFixed(1).padStart(5)}%  ${where}`)

const byFile = new Map<string, number>()
for (const node of profile.nodes) {
  const at = node.callFrame.url.replace(/^.*node_modules\//, '').replace(`file://${root}`, '').split('/').slice(0, 2).join('/')
  byFile.set(at, (byFile.get(at) ?? 0) + (self.get(node.id) ?? 0))
}
console.log('\nby package/folder:')
for (const [where, n] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${((n / total) * 100).toFixed(1).padStart(5)}%  ${where}`)
