import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/** One Redis server (REDIS_URL) or a Redis Cluster: whatever the replicas coordinate through. */
export type RedisClient = Redis | Cluster

// Fail fast: a command fails at once while Redis is unreachable (no offline queue), so callers
// get a prompt 503 rather than a wait until their deadline; the client reconnects by itself,
// so the service recovers when Redis does.
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  // Commands issued in one tick (many requests' worth, under load) go out in one socket write.
  enableAutoPipelining: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
}

/**
 * A cluster client with these options, as a single server's client would take them: the
 * offline queue and reconnection apply to the cluster, the rest to each node. Where the caller
 * wants commands refused while Redis is unreachable (no offline queue), a command whose node is
 * down or whose slot is unserved fails at once too, rather than after retries (16 of them, 100 ms
 * apart, by default); MOVED redirections are still followed, and the slot map is refreshed every
 * second, so a slot moved by a failover is found soon after. Per node, the bound is the connect timeout.
 */
export function clusterClient (cluster: RedisClusterConfig, options: RedisOptions): Cluster {
  // Where a node is comes from the cluster: an address here would send every node's traffic there.
  // Not auto-pipelining: a cluster's auto-pipelined command waits for the slot map, and so
  // would wait for good, not fail, while no node lets this client in (a wrong password).
  const { enableOfflineQueue, enableAutoPipelining: _ap, retryStrategy, host: _h, port: _p, path: _a, db: _d, sentinels: _s, ...perNode } = options
  const opts: ClusterOptions = {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // Reconnection, for the cluster and for each node: by default ioredis gives a node whose
    // connection dropped up for lost (failing what was queued on it) until the slot map is next
    // refreshed, and a connection can drop for no fault of the node, such as a connect timeout
    // passing while this process was too busy to see the connection made.
    ...(retryStrategy === undefined ? {} : { clusterRetryStrategy: retryStrategy, clusterNodeRetryStrategy: retryStrategy }),
    ...(enableOfflineQueue === false ? { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0, slotsRefreshInterval: 1000 } : {}),
    redisOptions: {
      ...perNode,
      username: cluster.username,
      password: cluster.password,
      // A managed TLS cluster presents certificates for host names (AWS ElastiCache's, as
      // ioredis's README notes): the names are kept as given, not resolved to addresses first.
      ...(cluster.tls ? { tls: {} } : {}),
    },
    ...(cluster.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  }
  const client = new Cluster(cluster.nodes, opts)
  // ioredis connects to a node on its first command, and without an offline queue it refuses
  // commands while that connection is being made: a burst to a node not yet used would fail.
  // So every node is connected as soon as it is known.
  if (enableOfflineQueue === false) {
    client.on('+node', (node: Redis) => {
      if (node.status === 'wait') node.connect().catch(() => {}) // failures surface on commands
    })
  }
  return client
}

/** A connection to the Redis replicas share, and the prefix of this deployment's keys there. */
export interface RedisConnection {
  client: RedisClient
  /**
   * Prefix of every key this deployment uses: its OAuth client id, since Genesys counts the
   * rate per client and deployments for different orgs may share one Redis.
   */
  prefix: string
  /** Quits, or drops the connections after a bounded wait. */
  close(): Promise<void>
}

/**
 * The Redis connection for multi-replica mode (one server, a managed endpoint, or a cluster), or
 * undefined without one. Resolves once connected, or after 2 s: the service starts even while
 * Redis is down (readiness says so), and the client reconnects by itself.
 */
export async function connectRedis (
  { url, cluster, clientId }: { url: string | undefined; cluster?: RedisClusterConfig | undefined; clientId: string },
  log: FastifyBaseLogger
): Promise<RedisConnection | undefined> {
  let client: RedisClient
  if (cluster !== undefined) client = clusterClient(cluster, FAIL_FAST)
  else if (url !== undefined) client = new Redis(url, FAIL_FAST)
  else return undefined
  let down = false
  client.on('ready', () => {
    down = false
    log.info(cluster ? `redis cluster connected (seeds: ${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(', ')})` : 'redis connected')
  })
  client.on('error', (err) => {
    // Once per outage, not once per reconnect attempt.
    if (!down) log.warn({ err: err.message }, 'redis unreachable; writes are refused until it is back')
    down = true
  })
  await Promise.race([once(client, 'ready').catch(() => {}), sleep(2000)])
  return {
    client,
    prefix: `pdg:${clientId}:`,
    close: async () => {
      // A cluster queues QUIT for a node that is reconnecting, which may never answer: a bounded
      // wait, then the connections are dropped (and with them any reconnection).
      await Promise.race([client.quit().catch(() => {}), sleep(1000)])
      client.disconnect()
    },
  }
}

/** Lua: `redisNow()`, Redis's clock in ms. */
export const REDIS_CLOCK = `local function redisNow()
  local t = redis.call('time')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

/**
 * Lua that sets `now` to Redis's clock in ms: where a script decides by time (a due list, a
 * lease), Redis's clock alone decides, so replicas' clocks, and a test's fake one, never do.
 */
export const REDIS_NOW = `${REDIS_CLOCK}local now = redisNow()
`

/** Every script's command name, and its Lua: a name is given to one script only. */
const scripts = new Map<string, string>()

/** Whether `name` is a script's command (for tests that send a command twice, as a reconnect does). */
export const isScript = (name: string): boolean => scripts.has(name)

/** The scripts defined on each client so far. */
const defined = new WeakMap<RedisClient, Set<string>>()

type Command = (numberOfKeys: number, ...keysAndArgs: Array<string | number>) => Promise<unknown>

/**
 * A Lua script, registered on a client as the command `name` with ioredis's `defineCommand` the
 * first time it runs there. ioredis sends the whole script once on each connection (EVAL), then
 * only its SHA1 (EVALSHA), and again the whole script to a server that has lost it (NOSCRIPT: a
 * restart, a failover, another cluster node).
 */
export function script (name: string, lua: string): (redis: RedisClient, keys: string[], args: Array<string | number>) => Promise<unknown> {
  if (scripts.has(name) && scripts.get(name) !== lua) throw new Error(`two scripts are named ${name}`)
  scripts.set(name, lua)
  return (redis, keys, args) => {
    let names = defined.get(redis)
    if (names === undefined) defined.set(redis, (names = new Set()))
    if (!names.has(name)) {
      redis.defineCommand(name, { lua })
      names.add(name)
    }
    return (redis as unknown as Record<string, Command>)[name]!(keys.length, ...keys, ...args)
  }
}

export interface RedisClusterConfig {
  nodes: Array<{ host: string; port: number }>
  tls: boolean
  username?: string
  password?: string
}

/**
 * REDIS_CLUSTER_NODES: seed nodes, `host:port` each, comma-separated. TLS and credentials are
 * given as in REDIS_URL, by writing an entry as a URL (`rediss://user:password@host:port`); they
 * apply to every node, the ones the cluster reports too, so every URL given must agree on them.
 * Entries are named by position, never shown: one written as a URL may hold a password.
 */
export function clusterNodes (raw: string): { cluster: RedisClusterConfig | undefined; problems: string[] } {
  const problems: string[] = []
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean)
  if (entries.length === 0) problems.push('is set but holds no host:port')
  const nodes: RedisClusterConfig['nodes'] = []
  let shared: { scheme: string; username: string; password: string } | undefined
  for (const [i, entry] of entries.entries()) {
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry)
    let u: URL | undefined
    try {
      u = new URL(isUrl ? entry : `redis://${entry}`)
    } catch {}
    const port = Number(u?.port)
    if (u === undefined || u.hostname === '' || !(port > 0) || (u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '' ||
        (isUrl ? !['redis:', 'rediss:'].includes(u.protocol) : u.username !== '' || u.password !== '')) {
      problems.push(`entry ${i + 1} must be host:port, or redis://[user:password@]host:port or rediss://… for TLS (a cluster has no database number)`)
      continue
    }
    if (isUrl) {
      const these = { scheme: u.protocol, username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
      if (shared !== undefined && JSON.stringify(shared) !== JSON.stringify(these)) {
        problems.push(`entry ${i + 1} gives another scheme or other credentials than an entry before it; they apply to every node, so give them once`)
      }
      shared ??= these
    }
    // URL keeps an IPv6 address in brackets; a socket wants it bare.
    nodes.push({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port })
  }
  if (nodes.length === 0) return { cluster: undefined, problems }
  const cluster = {
    nodes,
    tls: shared?.scheme === 'rediss:',
    ...(shared?.username ? { username: shared.username } : {}),
    ...(shared?.password ? { password: shared.password } : {}),
  }
  return { cluster, problems }
}
