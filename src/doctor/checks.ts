// The doctor's checks that need no probe: each returns a verdict and a sentence, naming
// variables and key names, never a key, secret or token.
import { Redis } from 'ioredis'
import type { Config } from '../config.ts'
import { isHttps } from '../data-action/index.ts'
import { redisPersistence } from '../delivery/index.ts'
import { clusterClient, RedisBudgetLog, type RedisClient, type Standing } from '../coordination/index.ts'
import { logSettings } from '../updates/index.ts'
import type { ApiKey } from '../domain.ts'

/** One line of the report: what was checked, whether it passed, and what was seen. */
export interface Check {
  name: string
  ok: boolean
  detail: string
  /** Not run, because a check it needs failed: never ok, and not counted as failed. */
  skipped?: true
}

/**
 * Genesys does not say a token's limit (it retired its rate-limit headers in 2021): a 429
 * is all it says, and the budget learns from it what Genesys allowed. This reports the configured
 * limit and the learned one where the doctor can see it: the running service's own (the console),
 * or the replicas' shared one in Redis. A learned limit below the configured one is a finding:
 * the token allows less than GENESYS_RATE_LIMIT_PER_MINUTE (another user of the OAuth client, or
 * a lower org limit), and every time the budget climbs back to find out, a burst meets 429s.
 */
export async function rateLimitCheck (config: Config, budget?: () => Promise<Standing>, orgLimit?: () => Promise<number | undefined>): Promise<Check> {
  const name = 'Rate limit of the token'
  const set = await limitsSaid(config.genesys.rateLimit.configured, orgLimit)
  let where = 'this service'
  let read = budget
  if (read === undefined && (config.redisUrl !== undefined || config.redisCluster !== undefined)) {
    where = 'every replica (Redis)'
    read = () => sharedStanding(config)
  }
  if (read === undefined) return { name, ok: true, detail: `${set}; without Redis each process learns its own: see pdg_rate_budget_limit on its /metrics` }
  let s: Standing
  try {
    s = await read()
  } catch (err) {
    return { name, ok: true, detail: `${set}; the learned limit could not be read from ${where}: ${(err as Error).message}` }
  }
  const paused = s.pausedMs > 0 ? `; paused for ${Math.ceil(s.pausedMs / 1000)} s more by Genesys's Retry-After` : ''
  if (s.learned === undefined) return { name, ok: true, detail: `${set}; no 429 holds it lower on ${where}${paused}` }
  const ago = Math.round(s.learned.agoMs / 1000)
  return {
    name,
    ok: false,
    detail: `${set}; but Genesys's 429 ${ago} s ago showed this token allowed ${s.learned.limit} requests a minute: the budget on ${where} now spends at most ${s.limit} a minute and climbs back step by step: set GENESYS_RATE_LIMIT_PER_MINUTE to ${s.learned.limit} or less, or find what else uses this OAuth client${paused}`,
  }
}

/**
 * The org's limit (Genesys's Limits API) beside GENESYS_RATE_LIMIT_PER_MINUTE, in words, with
 * what to set where the two disagree in a way that costs throughput or means nothing.
 */
async function limitsSaid (configured: number | undefined, orgLimit?: () => Promise<number | undefined>): Promise<string> {
  const variable = configured === undefined ? 'GENESYS_RATE_LIMIT_PER_MINUTE is unset' : `GENESYS_RATE_LIMIT_PER_MINUTE=${configured}`
  let org: number | undefined
  try {
    org = await orgLimit?.()
  } catch (err) {
    return `the org's limit could not be read from the Limits API (${(err as Error).message}): the gateway spends ${configured ?? 300} a minute (${variable}${configured === undefined ? ", Genesys's default" : ''})`
  }
  if (org === undefined) return `${variable}: the gateway spends ${configured ?? 300} a minute${orgLimit === undefined ? '' : ' (the Limits API named no limit for this client)'}`
  if (configured === undefined) return `the org allows ${org} requests a minute (Limits API), and the gateway spends that (${variable})`
  if (configured > org) return `the org allows ${org} requests a minute (Limits API): ${variable} is above it, so the org's ${org} binds; unset it, or set ${org} or less`
  if (configured < org / 2) return `the org allows ${org} requests a minute (Limits API), but ${variable} spends ${configured}: unset it to use ${org}, unless other integrations share this OAuth client`
  return `the org allows ${org} requests a minute (Limits API); ${variable} keeps the gateway at ${configured}`
}

/** The shared budget's standing, read from Redis as the replicas keep it. */
async function sharedStanding (config: Config): Promise<Standing> {
  const redis = connectOnce(config)
  try {
    await redis.connect()
    const { requests, windowMs } = config.genesys.rateLimit
    return await new RedisBudgetLog(redis, `pdg:${config.genesys.clientId}:`, logSettings(requests, windowMs)).standing(Date.now())
  } finally {
    redis.disconnect()
  }
}

/** A short-lived client that fails at once rather than retries: the doctor asks once. */
function connectOnce (config: Config): RedisClient {
  const options = { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false }
  const redis = config.redisCluster ? clusterClient(config.redisCluster, options) : new Redis(config.redisUrl!, options)
  redis.on('error', () => {}) // answered by the command that fails
  return redis
}

/** Reachable, and with AOF on: an asynchronous update's 202 promises it survives a Redis restart. */
export async function redisCheck (config: Config): Promise<Check> {
  const name = 'Redis'
  if (config.redisUrl === undefined && config.redisCluster === undefined) {
    // What delivery/service.ts does without a store that survives the process.
    const async = config.env === 'production'
      ? 'Prefer: respond-async is not applied (NODE_ENV=production): every write is answered when it is written'
      : 'asynchronous updates (Prefer: respond-async) are accepted and kept in this process\'s memory: lost if it stops'
    return { name, ok: true, detail: `not configured (REDIS_URL, REDIS_CLUSTER_NODES): one replica; ${async}` }
  }
  const redis = connectOnce(config)
  try {
    await redis.connect()
    await redis.ping()
    // The service's own question, so the doctor and pdg_redis_persistence agree (every primary of a cluster).
    const persistence = await redisPersistence(redis)
    if (persistence === 'unknown') return { name, ok: true, detail: 'reachable; whether it persists (AOF) could not be read from INFO persistence: check your provider\'s settings' }
    return persistence === 'aof'
      ? { name, ok: true, detail: 'reachable, and persisting every write (appendonly yes)' }
      : { name, ok: false, detail: 'reachable, but AOF is off (appendonly no): a Redis restart would lose accepted asynchronous updates; set appendonly yes' }
  } catch (err) {
    // ioredis's message names the host and port, never the password.
    return { name, ok: false, detail: `unreachable: ${(err as Error).message}` }
  } finally {
    redis.disconnect()
  }
}

export function publicUrlCheck (publicUrl: string | undefined, sandbox: boolean): Check {
  const name = 'PUBLIC_URL'
  if (sandbox) return { name, ok: true, detail: publicUrl === undefined ? 'not needed in sandbox mode' : `${publicUrl} (sandbox mode)` }
  if (publicUrl === undefined) return { name, ok: false, detail: 'not set: the Data Action export can only guess where Genesys reaches this service; set it to the https URL of your proxy or load balancer' }
  if (!isHttps(publicUrl)) return { name, ok: false, detail: `${publicUrl} is not https: Data Actions would send API keys in clear, and the console cookie would not be Secure` }
  return { name, ok: true, detail: `${publicUrl}: what the Data Action export names, and the console cookie is Secure` }
}

/** Short or shared keys are guessable or unaccountable; a signing secret equal to a key signs nothing. */
export function keysCheck (keys: readonly ApiKey[], sandbox: boolean): Check {
  const name = 'API keys and signing secrets'
  if (keys.length === 0) {
    return sandbox
      ? { name, ok: true, detail: 'API_KEYS is not set: caller authentication is off, as sandbox mode allows' }
      : { name, ok: false, detail: 'API_KEYS is not set: anyone who reaches the port can write to Genesys Cloud' }
  }
  const problems: string[] = []
  // A key given only as its hash (API_KEYS_FILE's keySha256) cannot be measured; the file refuses a key twice.
  const short = keys.filter((k) => k.key !== undefined && k.key.length < 24).map((k) => k.name)
  if (short.length > 0) problems.push(`${short.join(', ')}: shorter than 24 characters (make each with openssl rand -hex 32)`)
  const shared = keys.filter((k, i) => k.key !== undefined && keys.findIndex((o) => o.key === k.key) !== i).map((k) => k.name)
  if (shared.length > 0) problems.push(`${shared.join(', ')}: the same key as another name, so logs cannot tell the callers apart`)
  const weakSecret = keys.filter((k) => k.signingSecret !== undefined && keys.some((o) => o.key === k.signingSecret)).map((k) => k.name)
  if (weakSecret.length > 0) problems.push(`${weakSecret.join(', ')}: the signing secret is an API key, so whoever has the key can sign`)
  const signed = keys.filter((k) => k.signingSecret !== undefined).length
  if (problems.length > 0) return { name, ok: false, detail: problems.join('; ') }
  return { name, ok: true, detail: `${keys.length} key${keys.length === 1 ? '' : 's'} (${keys.map((k) => `${k.name}: ${k.priority}`).join(', ')}), ${signed} with a signing secret` }
}
