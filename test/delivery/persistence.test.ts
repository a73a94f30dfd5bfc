import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import t from 'tap'
import { parse } from 'yaml'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { redisPersistence } from '../../src/delivery/persistence.ts'
import { clusterClient } from '../../src/coordination/redis.ts'
import { spawnRedis, startRedisCluster } from '../helpers/redis.ts'
import type { Teardown } from '../helpers/stack.ts'

const NO_AOF = ['--save', '', '--appendonly', 'no']

/** The gateway in production shape with async updates on Redis: its start-up warnings, and a scrape. */
async function gateway (t: Teardown, redis: string | { cluster: string }) {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  // Nothing here calls Genesys: the URLs only have to be valid.
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info', GENESYS_CLIENT_ID: 'c', GENESYS_CLIENT_SECRET: 's', GENESYS_API_URL: 'http://127.0.0.1:9', GENESYS_LOGIN_URL: 'http://127.0.0.1:9', ...(typeof redis === 'string' ? { REDIS_URL: redis } : { REDIS_CLUSTER_NODES: redis.cluster }) })
  const app = await buildApp(config, { logStream })
  t.teardown(() => app.close())
  const persistence = async () => {
    const res = await app.inject('/metrics')
    return Object.fromEntries([...res.body.matchAll(/^pdg_redis_persistence\{state="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]))
  }
  const warnings = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40).map((l) => l.msg)
  return { persistence, warnings }
}

t.test('Redis without AOF: a loud start-up warning, and /metrics says none', async (t) => {
  const url = await spawnRedis(t, NO_AOF)
  const { persistence, warnings } = await gateway(t, url)
  t.equal(warnings().length, 1, 'one warning at start-up')
  t.match(warnings()[0], /^REDIS DOES NOT PERSIST \(appendonly no\): an asynchronous update answered 202 is lost if Redis restarts/, 'saying what is at stake')
  t.same(await persistence(), { aof: 0, none: 1, unknown: 0 })

  // Each scrape asks again: an operator who turns AOF on sees the alert clear without a restart.
  const admin = new Redis(url)
  // Off again before the server is killed: Redis then stops the AOF rewrite that turning it on
  // started, which would otherwise outlive the server and write into a directory being removed.
  t.teardown(async () => {
    await admin.config('SET', 'appendonly', 'no')
    await admin.quit()
  })
  await admin.config('SET', 'appendonly', 'yes')
  t.same(await persistence(), { aof: 1, none: 0, unknown: 0 })
})

t.test("docker-compose.yml's Redis persists: its own command, run by redis-server, satisfies the gateway", async (t) => {
  const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as { services: { redis: { command: string[] } } }
  const [binary, ...args] = compose.services.redis.command
  t.equal(binary, 'redis-server')
  const { persistence, warnings } = await gateway(t, await spawnRedis(t, args))
  t.same(await persistence(), { aof: 1, none: 0, unknown: 0 })
  t.same(warnings().filter((w) => /persist/i.test(w)), [], 'and start-up says nothing about persistence')
})

t.test('a user that may not run INFO: unknown, not a failure', async (t) => {
  const url = await spawnRedis(t, NO_AOF)
  const admin = new Redis(url)
  t.teardown(() => admin.quit())
  await admin.acl('SETUSER', 'no-info', 'on', '>pw', '~*', '&*', '+@all', '-info')
  const limited = new Redis(url.replace('//', '//no-info:pw@'), { enableReadyCheck: false })
  t.teardown(() => limited.quit())
  t.equal(await redisPersistence(limited), 'unknown')
  t.equal(await redisPersistence(admin), 'none', 'while the same server, asked by a user who may, says none')
})

t.test('a Redis Cluster: every primary is asked', async (t) => {
  const cluster = await startRedisCluster(t)
  const { persistence, warnings } = await gateway(t, { cluster: cluster.nodes })
  t.match(warnings(), [/^REDIS DOES NOT PERSIST/], 'the gateway on it warns at start-up')
  t.equal(warnings().length, 1, 'once')
  t.same(await persistence(), { aof: 0, none: 1, unknown: 0 })

  const client = clusterClient({ nodes: cluster.ports.map((port) => ({ host: '127.0.0.1', port })), tls: false }, {})
  t.teardown(async () => {
    await Promise.all(client.nodes('master').map((node) => node.config('SET', 'appendonly', 'no'))) // as above
    client.disconnect()
  })
  await once(client, 'ready')
  t.equal(await redisPersistence(client), 'none', 'its nodes run without AOF')
  // One primary of three turned on is not enough: the others still lose their slots' updates.
  await client.nodes('master')[0]!.config('SET', 'appendonly', 'yes')
  t.equal(await redisPersistence(client), 'none')
  await Promise.all(client.nodes('master').map((node) => node.config('SET', 'appendonly', 'yes')))
  t.equal(await redisPersistence(client), 'aof')
})
