import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Teardown } from './stack.js'

export interface TestRedis {
  /** Through a proxy the test controls. */
  url: string
  /** Where the Redis came from, for the test log. */
  source: string
  /** Redis "goes down": open connections drop, new ones are refused. */
  cut(): Promise<void>
  /** Redis is back, at the same address. */
  restore(): Promise<void>
}

async function freePort (): Promise<number> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  s.close()
  return port
}

/**
 * The Redis behind the multi-replica tests: REDIS_URL when set, else a container when a
 * container runtime answers, else a redis-server spawned on a free port (CI installs it). It is
 * reached through a TCP proxy, so a test can take it away and bring it back whatever it is.
 */
export async function startRedis (t: Teardown): Promise<TestRedis> {
  const target = await backend(t)
  const sockets = new Set<Socket>()
  let server: Server
  const port = await freePort()
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(target.port, target.host)
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('close', () => sockets.delete(s))
        s.on('error', () => {})
      }
      client.pipe(upstream).pipe(client)
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
  }
  await listen()
  const cut = async () => {
    const closed = new Promise((resolve) => server.close(resolve))
    for (const s of sockets) s.destroy()
    await closed
  }
  t.teardown(cut)
  return { url: `redis://127.0.0.1:${port}`, source: target.source, cut, restore: listen }
}

async function backend (t: Teardown): Promise<{ host: string; port: number; source: string }> {
  if (process.env.REDIS_URL) {
    const u = new URL(process.env.REDIS_URL)
    return { host: u.hostname, port: Number(u.port || 6379), source: `REDIS_URL ${u.host}` }
  }
  try {
    const { getContainerRuntimeClient, GenericContainer } = await import('testcontainers')
    await getContainerRuntimeClient()
    const c = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start()
    t.teardown(() => c.stop())
    return { host: c.getHost(), port: c.getMappedPort(6379), source: 'testcontainers redis:7-alpine' }
  } catch {
    // No container runtime: the local binary.
  }
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill())
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000)
    child.on('error', (err) => reject(new Error(`redis-server could not be spawned (is it installed?): ${err.message}`)))
    child.stdout.on('data', () => {
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  return { host: '127.0.0.1', port, source: `redis-server on port ${port}` }
}
