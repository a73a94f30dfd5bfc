// The doctor's checks that need no probe: each returns a verdict and a sentence, naming
// variables and key names, never a key, secret or token.
import type { IncomingHttpHeaders } from 'node:http'
import { Redis } from 'ioredis'
import type { ApiKey, Config } from '../config.js'
import { isHttps } from '../data-action/public-url.js'
import { headerNumber } from '../genesys/upstream-error.js'
import { redisPersistence } from '../delivery/persistence.js'
import { clusterClient } from '../plugins/redis.js'
import type { Check } from './doctor.js'

/**
 * Genesys tells a token's budget in `inin-ratelimit-*` on some answers (at least on 429s). The
 * gateway spends GENESYS_RATE_LIMIT_PER_MINUTE; more than the token has would be 429s.
 */
export function rateLimitCheck (headers: IncomingHttpHeaders, configured: number): Check {
  const name = 'Rate limit of the token'
  const allowed = headerNumber(headers, 'inin-ratelimit-allowed')
  if (allowed === undefined) {
    return { name, ok: true, detail: `Genesys did not say on this answer; the gateway spends at most GENESYS_RATE_LIMIT_PER_MINUTE=${configured} requests a minute (Genesys's default is 300 per token)` }
  }
  const count = headerNumber(headers, 'inin-ratelimit-count')
  const used = count === undefined ? '' : `; ${count} already used in this window${count > 1 ? ' (another user of the same OAuth client shares it)' : ''}`
  if (allowed < configured) {
    return { name, ok: false, detail: `the token allows ${allowed} requests a minute but GENESYS_RATE_LIMIT_PER_MINUTE=${configured}: set it to ${allowed} or less, or writes will meet 429s${used}` }
  }
  return { name, ok: true, detail: `the token allows ${allowed} requests a minute; the gateway spends at most ${configured}${used}` }
}

/** Reachable, and with AOF on: an asynchronous update's 202 promises it survives a Redis restart. */
export async function redisCheck (config: Config): Promise<Check> {
  const name = 'Redis'
  if (config.redisUrl === undefined && config.redisCluster === undefined) {
    // What delivery/plugin.ts does without a store that survives the process.
    const async = config.env === 'production'
      ? 'Prefer: respond-async is not applied (NODE_ENV=production): every write is answered when it is written'
      : 'asynchronous updates (Prefer: respond-async) are accepted and kept in this process\'s memory: lost if it stops'
    return { name, ok: true, detail: `not configured (REDIS_URL, REDIS_CLUSTER_NODES): one replica; ${async}` }
  }
  const options = { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false }
  const redis = config.redisCluster ? clusterClient(config.redisCluster, options) : new Redis(config.redisUrl!, options)
  redis.on('error', () => {}) // answered by the command that fails
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
