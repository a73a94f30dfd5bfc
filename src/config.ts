import { z } from 'zod'
import './messages.ts'
import { GENESYS_DEFAULT_LIMIT, PROPAGATION_MS, regionDomain } from './genesys/index.ts'
import { clusterNodes, type RedisClusterConfig } from './coordination/index.ts'
import { publicUrl } from './data-action/index.ts'
import { isWebhookSecret, keysFile } from './access/index.ts'
import type { ApiKey } from './domain.ts'
import { apiKeys, httpUrl, int, optional, wholeNumber } from './config-values.ts'

export interface Config {
  env: 'development' | 'test' | 'production'
  port: number
  host: string
  logLevel: string
  /** Every request's deadline, unless the caller asks for a shorter one. */
  requestTimeoutMs: number
  /**
   * The HTTP server's own bounds, so that a client trickling a request cannot hold a connection:
   * the whole request (headers and body) must arrive within requestMs, its headers within
   * headersMs; an idle keep-alive connection is closed after keepAliveMs; at most maxConnections
   * are open at once (more are closed as they come).
   */
  http: { requestMs: number; headersMs: number; keepAliveMs: number; maxConnections: number }
  /** From SIGTERM to exit: every caller is answered within this. */
  shutdownTimeoutMs: number
  /** sandbox: no Genesys credentials, the simulator runs in-process. */
  mode: 'genesys' | 'sandbox'
  genesys: {
    clientId: string
    clientSecret: string
    apiUrl: string
    loginUrl: string
    timeoutMs: number
    conflictRetries: number
    /** merge: read-merge-write the full map; patch: send only the changes (see the README). */
    writeMode: 'merge' | 'patch'
    /** How long after a write a read may still show the map before it: the journal keeps each write this long. */
    propagationMs: number
    /**
     * Upstream requests allowed in any window of windowMs until the org's own limit is read:
     * GENESYS_RATE_LIMIT_PER_MINUTE (`configured`, then a ceiling on the org's), else Genesys's 300.
     */
    rateLimit: { requests: number; windowMs: number; configured: number | undefined }
  }
  /** Updates waiting or being written, before new ones are refused with OVERLOADED. */
  queue: { maxPerConversation: number; maxTotal: number }
  /** Idempotency keys remembered (24 h each) before the least recently used are forgotten. */
  idempotencyMaxKeys: number
  /** Multi-replica mode: a dead replica holds a conversation's lock at most this long. */
  lockLeaseMs: number
  /** Empty means caller authentication is off (allowed in sandbox only). */
  apiKeys: ApiKey[]
  /** Where the keys came from, for messages that tell an operator where to look. */
  apiKeysFrom: 'API_KEYS' | 'API_KEYS_FILE' | undefined
  limits: {
    maxAttributes: number
    maxValueLength: number
  }
  /** One Redis server or a managed endpoint (REDIS_URL); exclusive with redisCluster. */
  redisUrl: string | undefined
  /** A Redis Cluster's seed nodes (REDIS_CLUSTER_NODES), with what applies to every node. */
  redisCluster: RedisClusterConfig | undefined
  /** PUBLIC_URL: where Genesys and browsers reach the service (Data Action export, console cookie). */
  publicUrl: string | undefined
  /** refuse: 409 CONVERSATION_ENDED for a write found to target an ended conversation. */
  endedConversationWrites: 'refuse' | 'allow'
  /** The browser console at /console outside sandbox mode (in sandbox it is always on). */
  console: boolean
  /** OpenTelemetry traces; the SDK reads the rest of the standard OTEL_* variables itself. */
  tracing: { enabled: boolean }
  /**
   * Asynchronous delivery: how long an accepted update may take, how many may wait; not an
   * environment variable (tests lower it): how many conversations one replica attempts at once.
   */
  delivery: {
    maxAgeMs: number
    maxBacklog: number
    /** One key's share of maxBacklog (a key's asyncBacklog overrides it), so one flooding key cannot refuse everyone. */
    maxBacklogPerKey: number
    concurrency: number
  }
  /**
   * Outcome callbacks (docs/crm.md, "Outcome callbacks"): CALLBACK_ALLOW_PRIVATE lets a callbackUrl be http outside
   * sandbox and resolve to a loopback, link-local or private address; not an environment
   * variable: how many callbacks one replica sends at once.
   */
  callbacks: { allowPrivate: boolean; concurrency: number }
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const schema = z.object({
  NODE_ENV: optional(z.enum(['development', 'test', 'production'])).transform((v) => v ?? 'development'),
  PORT: int(0, 65535, 3000),
  HOST: optional(z.string()).transform((v) => v ?? '127.0.0.1'),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])).transform((v) => v ?? 'info'),
  GENESYS_REGION: optional(z.string()),
  GENESYS_CLIENT_ID: optional(z.string()),
  GENESYS_CLIENT_SECRET: optional(z.string()),
  GENESYS_API_URL: httpUrl,
  GENESYS_LOGIN_URL: httpUrl,
  GENESYS_TIMEOUT_MS: int(100, 120_000, 10_000),
  GENESYS_CONFLICT_RETRIES: int(0, 20, 5),
  // A ceiling on the org's own limit (read from Genesys's Limits API); unset: the org's limit.
  GENESYS_RATE_LIMIT_PER_MINUTE: wholeNumber(10, 1_000_000),
  GENESYS_WRITE_MODE: optional(z.enum(['merge', 'patch'])).transform((v) => v ?? 'merge'),
  // Genesys shows a write late (its guidance: retry a read-back for up to 10 s); 0 trusts every read.
  GENESYS_PROPAGATION_MS: int(0, 600_000, PROPAGATION_MS),
  // A Data Action waits 1 to 60 s; the default leaves a flow with the usual 10 s timeout 2 s to spare.
  REQUEST_TIMEOUT_MS: int(100, 120_000, 8000),
  SHUTDOWN_TIMEOUT_MS: int(1000, 600_000, 10_000),
  // A request of at most 64 KiB arrives in well under these on any working link.
  HTTP_REQUEST_TIMEOUT_MS: int(100, 600_000, 30_000),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000, 10_000),
  // Longer than the 60 s idle timeout of common load balancers, so they close first (as Fastify's default).
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000, 72_000),
  HTTP_MAX_CONNECTIONS: int(1, 1_000_000, 10_000),
  MAX_QUEUED_PER_CONVERSATION: int(1, 100_000, 1000),
  MAX_QUEUED_TOTAL: int(1, 10_000_000, 20_000),
  SIGNING_SECRETS: optional(z.string()),
  IDEMPOTENCY_MAX_KEYS: int(100, 10_000_000, 100_000),
  LOCK_LEASE_MS: int(500, 60_000, 5000),
  API_KEYS: apiKeys,
  API_KEYS_FILE: optional(z.string()),
  MAX_ATTRIBUTES_PER_REQUEST: int(1, 1000, 50),
  // A longer value could never fit the 64 KiB body limit anyway.
  MAX_VALUE_LENGTH: int(1, 60_000, 1024),
  // Past 10 minutes the call an update was for is most likely over.
  ASYNC_MAX_AGE_MS: int(1000, 86_400_000, 600_000),
  ASYNC_MAX_BACKLOG: int(1, 100_000_000, 100_000),
  // Default: half of ASYNC_MAX_BACKLOG (see loadConfig), so a second key always finds room.
  ASYNC_MAX_BACKLOG_PER_KEY: optional(z.coerce.number().int().min(1).max(100_000_000)),
  REDIS_URL: optional(z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })),
  REDIS_CLUSTER_NODES: optional(z.string()).transform((raw, ctx) => {
    if (raw === undefined) return undefined
    const { cluster, problems } = clusterNodes(raw)
    for (const message of problems) ctx.addIssue({ code: 'custom', message })
    return cluster
  }),
  PUBLIC_URL: publicUrl,
  ENDED_CONVERSATION_WRITES: optional(z.enum(['refuse', 'allow'])).transform((v) => v ?? 'refuse'),
  CONSOLE: optional(z.enum(['0', '1', 'false', 'true'], { error: 'must be 1 or 0' })).transform((v) => v === '1' || v === 'true'),
  CALLBACK_ALLOW_PRIVATE: optional(z.enum(['0', '1', 'false', 'true'], { error: 'must be 1 or 0' })).transform((v) => v === '1' || v === 'true'),
})

/**
 * Tracing is on when an OTLP endpoint or a traces exporter is named, as the OpenTelemetry
 * specification has it; OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true turn it off.
 */
export function tracingEnabled (env: NodeJS.ProcessEnv): boolean {
  const set = (name: string) => (env[name] ?? '').trim() !== ''
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false
  if ((env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase() === 'none') return false
  return set('OTEL_EXPORTER_OTLP_ENDPOINT') || set('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') || set('OTEL_TRACES_EXPORTER')
}

/** Every variable the service reads (besides the standard OTEL_* ones, which the OpenTelemetry SDK reads). */
export const VARIABLES = Object.keys(schema.shape)

type Env = z.infer<typeof schema>

/**
 * Parses the environment once. Every problem is reported at once, each once, naming its
 * variable, so a bad deployment is fixed in one round: each variable is parsed on its own,
 * and the checks across variables leave out those already reported.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = []
  const parsed: Partial<Env> = {}
  for (const [name, field] of Object.entries(schema.shape)) {
    const result = field.safeParse(env[name])
    if (result.success) Object.assign(parsed, { [name]: result.data })
    else problems.push(...result.error.issues.map((i) => `${name}: ${i.message}`))
  }
  const valid = (name: keyof Env) => name in parsed
  const given = (name: keyof Env) => (env[name] ?? '') !== ''
  const e = parsed as Env
  const hasCredentials = e.GENESYS_CLIENT_ID !== undefined || e.GENESYS_CLIENT_SECRET !== undefined
  const production = e.NODE_ENV === 'production'

  if (hasCredentials && (e.GENESYS_CLIENT_ID === undefined || e.GENESYS_CLIENT_SECRET === undefined)) {
    problems.push('GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET: set both or neither')
  }
  if (production && !hasCredentials) {
    problems.push('GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET: required when NODE_ENV=production (sandbox mode is for development only)')
  }
  if (production && !given('API_KEYS') && !given('API_KEYS_FILE')) {
    problems.push('API_KEYS: required when NODE_ENV=production, as name:key pairs separated by commas (or API_KEYS_FILE)')
  }
  const file = keysFile(e.API_KEYS_FILE, given('API_KEYS'), problems)
  const apiKeys = file?.keys ?? e.API_KEYS
  if (e.CONSOLE && hasCredentials && apiKeys?.length === 0 && !file?.problems.length) problems.push('CONSOLE: 1 outside sandbox mode needs API_KEYS or API_KEYS_FILE, else anyone could read and set participant data there')

  let apiUrl = e.GENESYS_API_URL
  let loginUrl = e.GENESYS_LOGIN_URL
  if (e.GENESYS_REGION !== undefined) {
    const domain = regionDomain(e.GENESYS_REGION)
    if (domain === undefined) {
      problems.push(`GENESYS_REGION: unknown region "${e.GENESYS_REGION}" (use a code such as us-east-1 or a domain such as mypurecloud.ie)`)
    } else {
      apiUrl ??= `https://api.${domain}`
      loginUrl ??= `https://login.${domain}`
    }
  }
  // Only when nothing says where Genesys is: a bad region or URL has been reported already.
  if (hasCredentials && e.GENESYS_REGION === undefined && !(given('GENESYS_API_URL') && given('GENESYS_LOGIN_URL'))) {
    problems.push('GENESYS_REGION: required with credentials, unless GENESYS_API_URL and GENESYS_LOGIN_URL are both set')
  }
  for (const entry of (e.SIGNING_SECRETS ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':')
    const name = entry.slice(0, Math.max(colon, 0))
    const secret = entry.slice(colon + 1)
    const key = apiKeys?.find((k) => k.name === name)
    // Never the entry itself: without a colon it may be all secret.
    if (colon < 1 || secret.length < 16) problems.push(`SIGNING_SECRETS: entry ${name ? `"${name}:…"` : 'without a name'} must be name:secret with a secret of at least 16 characters`)
    else if (secret.startsWith('whsec_') && !isWebhookSecret(secret)) {
      problems.push(`SIGNING_SECRETS: the secret of "${name}" starts with whsec_, so it is a Standard Webhooks secret: whsec_ then at least 16 bytes in padded base64`)
    } else if (key?.signingSecret !== undefined) {
      // One secret per key: a second would silently replace the first.
      problems.push(`SIGNING_SECRETS: "${name}" appears twice; give each API key one secret`)
    } else if (key !== undefined) key.signingSecret = secret
    // A name missing from a bad API_KEYS may be in the entry reported there.
    else if (valid('API_KEYS') && !file?.problems.length) problems.push(`SIGNING_SECRETS: "${name}" is not a name in API_KEYS`)
  }
  if (valid('HTTP_HEADERS_TIMEOUT_MS') && valid('HTTP_REQUEST_TIMEOUT_MS') && e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push(`HTTP_HEADERS_TIMEOUT_MS: ${e.HTTP_HEADERS_TIMEOUT_MS} is longer than HTTP_REQUEST_TIMEOUT_MS (${e.HTTP_REQUEST_TIMEOUT_MS}), which the headers are part of`)
  }
  if (given('REDIS_URL') && given('REDIS_CLUSTER_NODES')) {
    problems.push('REDIS_URL and REDIS_CLUSTER_NODES: set one or the other (REDIS_URL for one server or a managed endpoint, REDIS_CLUSTER_NODES for a Redis Cluster\'s nodes)')
  }
  // Outcome events carry update ids and attribute names, signed: outside sandbox they travel encrypted.
  for (const k of apiKeys ?? []) {
    if (k.callback !== undefined && hasCredentials && !e.CALLBACK_ALLOW_PRIVATE && !k.callback.url.startsWith('https:')) {
      problems.push(`API_KEYS_FILE: entry "${k.name}": callbackUrl: must be https outside sandbox mode (CALLBACK_ALLOW_PRIVATE=1 allows http, for private networks)`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)

  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    http: {
      requestMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    mode: hasCredentials ? 'genesys' : 'sandbox',
    genesys: {
      clientId: e.GENESYS_CLIENT_ID ?? '',
      clientSecret: e.GENESYS_CLIENT_SECRET ?? '',
      // Sandbox fills these in once the in-process simulator listens.
      apiUrl: apiUrl ?? '',
      loginUrl: loginUrl ?? '',
      timeoutMs: e.GENESYS_TIMEOUT_MS,
      conflictRetries: e.GENESYS_CONFLICT_RETRIES,
      writeMode: e.GENESYS_WRITE_MODE,
      propagationMs: e.GENESYS_PROPAGATION_MS,
      rateLimit: { requests: e.GENESYS_RATE_LIMIT_PER_MINUTE ?? GENESYS_DEFAULT_LIMIT, windowMs: 60_000, configured: e.GENESYS_RATE_LIMIT_PER_MINUTE },
    },
    queue: { maxPerConversation: e.MAX_QUEUED_PER_CONVERSATION, maxTotal: e.MAX_QUEUED_TOTAL },
    idempotencyMaxKeys: e.IDEMPOTENCY_MAX_KEYS,
    lockLeaseMs: e.LOCK_LEASE_MS,
    apiKeys,
    apiKeysFrom: file !== undefined ? 'API_KEYS_FILE' : given('API_KEYS') ? 'API_KEYS' : undefined,
    limits: { maxAttributes: e.MAX_ATTRIBUTES_PER_REQUEST, maxValueLength: e.MAX_VALUE_LENGTH },
    redisUrl: e.REDIS_URL,
    redisCluster: e.REDIS_CLUSTER_NODES,
    publicUrl: e.PUBLIC_URL,
    endedConversationWrites: e.ENDED_CONVERSATION_WRITES,
    console: e.CONSOLE,
    tracing: { enabled: tracingEnabled(env) },
    delivery: {
      maxAgeMs: e.ASYNC_MAX_AGE_MS,
      maxBacklog: e.ASYNC_MAX_BACKLOG,
      maxBacklogPerKey: e.ASYNC_MAX_BACKLOG_PER_KEY ?? Math.ceil(e.ASYNC_MAX_BACKLOG / 2),
      concurrency: 500,
    },
    callbacks: { allowPrivate: e.CALLBACK_ALLOW_PRIVATE, concurrency: 50 },
  }
}
