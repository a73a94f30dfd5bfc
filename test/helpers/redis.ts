import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { Redis, type RedisOptions } from 'ioredis'
import { isScript } from '../../src/coordination/redis.ts'
import type { Teardown } from './stack.ts'
import { until } from './until.ts'

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
 * The Redis behind the multi-replica tests: a private one, a container when a container runtime
 * answers, else a redis-server spawned on a free port (CI installs it). Never REDIS_URL: that is
 * the service's, and a developer with .env loaded would otherwise have the tests write to (and
 * take down) their own Redis. It is reached through a TCP proxy, so a test can take it away and
 * bring it back whatever it is.
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
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  })
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

/**
 * A redis-server of the test's own on a free port, with `args` (its persistence, say) and a
 * fresh directory for whatever files it writes; no proxy. Its address as a redis:// URL.
 */
export async function spawnRedis (t: Teardown, args: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pdg-redis-'))
  const port = await freePort()
  const child = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      // SIGKILL: on SIGTERM, a server whose first AOF is still being written refuses to stop.
      child.kill('SIGKILL')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })
  await started(child, /Ready to accept connections/, 'redis-server')
  child.removeAllListeners('exit')
  return `redis://127.0.0.1:${port}`
}

export interface TestRedisCluster {
  /** For REDIS_CLUSTER_NODES: every node, host:port, comma-separated. */
  nodes: string
  /** With `tls`: the CA that signed the nodes' certificate (for NODE_EXTRA_CA_CERTS). */
  ca?: string
  ports: number[]
  /** The port of the primary that serves `key`'s slot. */
  portFor(key: string): Promise<number>
  /** That node's process exits (SIGKILL: a crash, nothing saved); its slots are unreachable. */
  stop(port: number): Promise<void>
  /** It starts again on the same port from its cluster config file, owning the same slots (empty). */
  start(port: number): Promise<void>
}

/** Waits for `pattern` in a child's stdout, or fails with what it printed. */
async function started (child: ChildProcessByStdio<null, Readable, Readable>, pattern: RegExp, what: string): Promise<void> {
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), 10_000)
    child.on('error', (err) => reject(new Error(`${what} could not be spawned (is it installed?): ${err.message}`)))
    child.on('exit', (code) => reject(new Error(`${what} exited ${code}:\n${out}`)))
    const seen = (d: Buffer) => {
      out += d
      if (pattern.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout.on('data', seen)
    child.stderr.on('data', seen)
  })
}

async function run (command: string, args: string[], cwd?: string): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  // 'close', not 'exit': by then all of its output has been read.
  const [code] = await once(child, 'close')
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${out}`)
  return out
}

/** A CA and a certificate it signed for 127.0.0.1 and localhost, in `dir`. */
async function certificates (dir: string): Promise<void> {
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=pdg-test-ca'], dir)
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=localhost'], dir)
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  await run('openssl', ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.crt', '-days', '1', '-extfile', 'san.ext'], dir)
}

/**
 * A real three-primary Redis Cluster of local redis-server processes on free ports (no
 * replicas, so a stopped primary's slots stay unserved until it is back; partial coverage is
 * allowed, so the other slots stay served meanwhile). Built by `redis-cli --cluster create`.
 */
export async function startRedisCluster (t: Teardown, opts: { password?: string; tls?: boolean } = {}): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pdg-cluster-'))
  const ca = join(dir, 'ca.crt')
  if (opts.tls) await certificates(dir)
  const auth = [...(opts.password === undefined ? [] : ['-a', opts.password, '--no-auth-warning']), ...(opts.tls ? ['--tls', '--cacert', ca] : [])]
  const cli = (...args: string[]) => run('redis-cli', [...auth, ...args])
  // TLS only, the cluster bus too: nothing answers in plain text.
  const tls = (port: number) => ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-auth-clients', 'no',
    '--tls-cert-file', join(dir, 'node.crt'), '--tls-key-file', join(dir, 'node.key'), '--tls-ca-cert-file', ca]
  const children = new Map<number, ChildProcessByStdio<null, Readable, Readable>>()
  const start = async (port: number) => {
    const child = spawn('redis-server', [
      ...(opts.tls ? tls(port) : ['--port', String(port)]), '--bind', '127.0.0.1', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
      '--cluster-require-full-coverage', 'no', '--save', '', '--appendonly', 'no',
      ...(opts.password === undefined ? [] : ['--requirepass', opts.password]),
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.set(port, child)
    await started(child, /Ready to accept connections/, `redis-server (cluster node on ${port})`)
    child.removeAllListeners('exit')
  }
  const stop = async (port: number) => {
    const child = children.get(port)
    children.delete(port)
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  t.teardown(async () => {
    await Promise.all([...children.keys()].map(stop))
    await rm(dir, { recursive: true, force: true })
  })
  const ports: number[] = []
  for (let attempt = 0; ports.length < 3; attempt++) {
    const port = await freePort()
    // A cluster node also listens on port + 10000 (the cluster bus).
    if (port >= 55_000 || ports.includes(port)) continue
    try {
      await start(port)
      ports.push(port)
    } catch (err) {
      // Taken between our look and the node's bind (other tests run alongside), or its bus port is.
      if (!/Address already in use/.test(String(err)) || attempt > 20) throw err
      children.delete(port)
    }
  }
  await cli('--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes')
  // Every node must know every slot's owner before a client is pointed at it.
  await until(() => Promise.all(ports.map((p) => cli('-p', String(p), 'cluster', 'info'))),
    (infos) => infos.every((i) => /cluster_state:ok/.test(i) && /cluster_slots_ok:16384/.test(i)),
    { what: 'every node knowing every slot\'s owner' })
  const portFor = async (key: string) => {
    const live = ports.find((p) => children.has(p))!
    const slot = Number(await cli('-p', String(live), 'cluster', 'keyslot', key))
    const slots = await cli('-p', String(live), '--json', 'cluster', 'slots')
    const ranges = JSON.parse(slots) as Array<[number, number, [string, number]]>
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    if (range === undefined) throw new Error(`no node serves slot ${slot}`)
    return range[2][1]
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ...(opts.tls ? { ca } : {}), ports, portFor, stop, start }
}

/**
 * `client`, with each of `commands` (Redis commands or scripts' commands; `'scripts'` for every
 * script) sent through `around`, which gets a function that sends it and answers for it: what a
 * test makes of the way an answer comes back (late, twice, never). A script runs as its own
 * command (defineCommand), never as an `eval`/`evalsha` the proxy would see, so a name the client
 * does not have is refused: it would intercept nothing, and the test would prove nothing.
 */
export function intercepting<C extends object> (
  client: C,
  commands: readonly string[] | 'scripts',
  around: (send: () => Promise<unknown>, name: string) => Promise<unknown>
): C {
  for (const name of commands === 'scripts' ? [] : commands) {
    if (name === 'evalsha' || name === 'eval') throw new Error('intercepting: scripts are sent as their own commands; name the script (src/coordination/redis.ts)')
    if (!isScript(name) && typeof Reflect.get(client, name) !== 'function') throw new Error(`intercepting: ${name} is neither a Redis command nor a script (src/coordination/redis.ts)`)
  }
  const intercepted = (name: string) => (commands === 'scripts' ? isScript(name) : commands.includes(name))
  return new Proxy(client, {
    get (target, prop) {
      const v = Reflect.get(target, prop, target) as unknown
      if (typeof v !== 'function') return v
      const run = (v as (...a: unknown[]) => Promise<unknown>).bind(target)
      if (typeof prop !== 'string' || !intercepted(prop)) return run
      return (...args: unknown[]) => around(() => run(...args), prop)
    },
  })
}

/**
 * `client`, sending each of `commands` twice, the second after the first took effect, and
 * answering with the second: what ioredis does with a command whose answer a dropped connection
 * lost (`autoResendUnfulfilledCommands`). `between` runs between the two, as another replica would.
 */
export function resending<C extends object> (client: C, commands: readonly string[], between?: () => Promise<unknown>): C {
  return intercepting(client, commands, async (send) => {
    await send()
    await between?.()
    return send()
  })
}

/** Clients of `url` that fail fast, as the service's do, each ready when returned and disconnected at teardown. */
export function fastClients (t: Teardown, url: string, options: RedisOptions = {}): () => Promise<Redis> {
  const clients: Redis[] = []
  t.teardown(() => clients.forEach((c) => c.disconnect()))
  return async () => {
    const c = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...options })
    c.on('error', () => {})
    clients.push(c)
    if (c.status !== 'ready') await new Promise((resolve) => c.once('ready', resolve))
    return c
  }
}
