import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'
import { dist } from './helpers/dist.ts'

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

t.test('no variables at all: sandbox on 127.0.0.1:3000 with documented defaults', async (t) => {
  const c = loadConfig({})
  t.equal(c.mode, 'sandbox')
  t.equal(c.port, 3000)
  t.equal(c.host, '127.0.0.1')
  t.same(c.apiKeys, [])
  t.same(c.limits, { maxAttributes: 50, maxValueLength: 1024 })
  t.equal(c.genesys.conflictRetries, 5)
  t.equal(c.requestTimeoutMs, 8000)
  t.equal(c.shutdownTimeoutMs, 10_000)
  t.same(c.genesys.rateLimit, { requests: 300, windowMs: 60_000 })
  t.same(c.queue, { maxPerConversation: 1000, maxTotal: 20_000 })
})

t.test('a region, as code or as domain, picks the api. and login. hosts', async (t) => {
  const creds = { GENESYS_CLIENT_ID: 'id', GENESYS_CLIENT_SECRET: 's' }
  const ie = loadConfig({ ...creds, GENESYS_REGION: 'eu-west-1' })
  t.equal(ie.mode, 'genesys')
  t.equal(ie.genesys.apiUrl, 'https://api.mypurecloud.ie')
  t.equal(ie.genesys.loginUrl, 'https://login.mypurecloud.ie')
  t.equal(loadConfig({ ...creds, GENESYS_REGION: 'usw2.pure.cloud' }).genesys.apiUrl, 'https://api.usw2.pure.cloud')
  const explicit = loadConfig({ ...creds, GENESYS_REGION: 'us-east-1', GENESYS_API_URL: 'http://127.0.0.1:8787/' })
  t.equal(explicit.genesys.apiUrl, 'http://127.0.0.1:8787', 'an explicit URL wins over the region, trailing slash dropped')
  t.equal(explicit.genesys.loginUrl, 'https://login.mypurecloud.com')
})

t.test('API_KEYS parses name:key pairs, each with a priority that defaults to live', async (t) => {
  t.same(loadConfig({ API_KEYS: 'crm:abc, flow:def:live ,sync:ghi:bulk' }).apiKeys, [
    { name: 'crm', key: 'abc', priority: 'live' },
    { name: 'flow', key: 'def', priority: 'live' },
    { name: 'sync', key: 'ghi', priority: 'bulk' },
  ])
})

t.test('every bad value is reported, naming its variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /^PORT: /],
    [{ PORT: '70000' }, /^PORT: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ NODE_ENV: 'staging' }, /^NODE_ENV: /],
    [{ GENESYS_API_URL: 'not a url' }, /^GENESYS_API_URL: must be an http\(s\) URL/],
    [{ GENESYS_LOGIN_URL: 'ftp://x' }, /^GENESYS_LOGIN_URL: /],
    [{ GENESYS_CLIENT_ID: 'id' }, /^GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET: set both or neither/],
    [{ GENESYS_CLIENT_ID: 'id', GENESYS_CLIENT_SECRET: 's' }, /^GENESYS_REGION: required with credentials/],
    [{ GENESYS_CLIENT_ID: 'id', GENESYS_CLIENT_SECRET: 's', GENESYS_REGION: 'mars-1' }, /^GENESYS_REGION: unknown region "mars-1"/],
    [{ API_KEYS: 'justakey' }, /^API_KEYS: entry/],
    [{ API_KEYS: 'a:b:c' }, /^API_KEYS: entry "a:…" must be name:key or name:key:live or name:key:bulk/],
    [{ API_KEYS: 'a:b:live:x' }, /^API_KEYS: entry/],
    [{ GENESYS_RATE_LIMIT_PER_MINUTE: '5' }, /^GENESYS_RATE_LIMIT_PER_MINUTE: /],
    [{ REQUEST_TIMEOUT_MS: 'soon' }, /^REQUEST_TIMEOUT_MS: /],
    [{ SHUTDOWN_TIMEOUT_MS: '10' }, /^SHUTDOWN_TIMEOUT_MS: /],
    [{ MAX_QUEUED_PER_CONVERSATION: '0' }, /^MAX_QUEUED_PER_CONVERSATION: /],
    [{ MAX_QUEUED_TOTAL: '-1' }, /^MAX_QUEUED_TOTAL: /],
    [{ API_KEYS: 'a:1,a:2' }, /^API_KEYS: name "a" appears twice/],
    [{ API_KEYS: ' , ' }, /^API_KEYS: is set but holds no name:key pair/],
    [{ MAX_ATTRIBUTES_PER_REQUEST: '0' }, /^MAX_ATTRIBUTES_PER_REQUEST: /],
    [{ MAX_VALUE_LENGTH: '1.5' }, /^MAX_VALUE_LENGTH: /],
    [{ GENESYS_TIMEOUT_MS: '5' }, /^GENESYS_TIMEOUT_MS: /],
    [{ REDIS_URL: 'http://x' }, /^REDIS_URL: must be a redis/],
    [{ LOCK_LEASE_MS: '10' }, /^LOCK_LEASE_MS: /],
    [{ NODE_ENV: 'production', API_KEYS: 'a:b' }, /^GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET: required when NODE_ENV=production/],
    [{ NODE_ENV: 'production', GENESYS_CLIENT_ID: 'i', GENESYS_CLIENT_SECRET: 's', GENESYS_REGION: 'us-east-1' }, /^API_KEYS: required when NODE_ENV=production/],
  ]
  for (const [env, message] of cases) {
    const found = problems(env)
    t.ok(found.some((p) => message.test(p)), `${JSON.stringify(env)} → ${JSON.stringify(found)}`)
  }
  t.equal(problems({ PORT: 'x', LOG_LEVEL: 'y' }).length, 2, 'all problems at once, not the first only')
  t.same(problems({ PORT: '', HOST: '' }), [], 'an empty variable counts as unset')
})

t.test('production with credentials and keys starts in genesys mode', async (t) => {
  const c = loadConfig({ NODE_ENV: 'production', GENESYS_CLIENT_ID: 'i', GENESYS_CLIENT_SECRET: 's', GENESYS_REGION: 'eu-central-1', API_KEYS: 'crm:k' })
  t.equal(c.mode, 'genesys')
  t.equal(c.genesys.apiUrl, 'https://api.mypurecloud.de')
})

t.test('one pass reports every problem, each once (issue 13)', async (t) => {
  t.same(problems({ PORT: 'abc', GENESYS_REGION: 'nowhere' }).map((p) => p.split(':')[0]), ['PORT', 'GENESYS_REGION'], 'a bad PORT does not hide the region')
  const creds = { GENESYS_CLIENT_ID: 'id', GENESYS_CLIENT_SECRET: 's' }
  t.same(problems({ ...creds, GENESYS_REGION: 'mars-1' }), [
    'GENESYS_REGION: unknown region "mars-1" (use a code such as us-east-1 or a domain such as mypurecloud.ie)',
  ], 'a bad region is one problem, not also "required"')
  t.same(problems({ ...creds, GENESYS_API_URL: 'nope', GENESYS_LOGIN_URL: 'http://login' }).map((p) => p.split(':')[0]), ['GENESYS_API_URL'], 'a bad URL is not also a missing region')
  t.same(problems({ ...creds, GENESYS_API_URL: 'http://api' }).map((p) => p.split(':')[0]), ['GENESYS_REGION'], 'one URL of two still needs the region')
  const many = problems({
    NODE_ENV: 'production',
    PORT: 'abc',
    LOG_LEVEL: 'loud',
    GENESYS_CLIENT_ID: 'id',
    GENESYS_REGION: 'nowhere',
    API_KEYS: 'justakey',
    SIGNING_SECRETS: 'ghost:0123456789abcdef0123',
  })
  t.same(many.map((p) => p.split(':')[0]).sort(), ['API_KEYS', 'GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET', 'GENESYS_REGION', 'LOG_LEVEL', 'PORT'], `every variable named, each once: ${JSON.stringify(many)}`)
  t.same(problems({ NODE_ENV: 'staging' }).length, 1, 'an unknown NODE_ENV is not also taken for production or not')
})

t.test('SIGNING_SECRETS names each API key once', async (t) => {
  t.same(problems({ API_KEYS: 'crm:k', SIGNING_SECRETS: 'crm:0123456789abcdef0123,crm:fedcba98765432100123' }), [
    'SIGNING_SECRETS: "crm" appears twice; give each API key one secret',
  ])
})

t.test('API_KEYS and SIGNING_SECRETS problems say what was given, never a secret', async (t) => {
  t.same(problems({ API_KEYS: 'justakey' }), [
    'API_KEYS: entry 1 (8 characters, no ":"; not shown, as it may be a key) must be name:key or name:key:live or name:key:bulk (no part empty)',
  ])
  const bad = problems({ API_KEYS: 'crm:s3cret-key:fast,ok:k2,:s3cret-two' })
  t.same(bad.length, 2)
  t.match(bad[0], /^API_KEYS: entry "crm:…" must be/)
  t.match(bad[1], /^API_KEYS: entry ":…" must be/)
  t.notOk(bad.some((p) => /s3cret/.test(p)), 'no key appears')
  const secrets = problems({ API_KEYS: 'crm:k', SIGNING_SECRETS: 'averylongsigningsecretwithoutaname,crm:short' })
  t.same(secrets, [
    'SIGNING_SECRETS: entry without a name must be name:secret with a secret of at least 16 characters',
    'SIGNING_SECRETS: entry "crm:…" must be name:secret with a secret of at least 16 characters',
  ])
  t.same(problems({ API_KEYS: 'crm:k', SIGNING_SECRETS: 'ghost:0123456789abcdef' }), ['SIGNING_SECRETS: "ghost" is not a name in API_KEYS'])
})

t.test('the real entry, given several bad variables, names each once on stderr and exits 1', async (t) => {
  const { execFile } = await import('node:child_process')
  const root = new URL('../', import.meta.url)
  const env = { PATH: process.env.PATH, PORT: 'abc', GENESYS_REGION: 'nowhere', GENESYS_CLIENT_ID: 'id', GENESYS_CLIENT_SECRET: 's', API_KEYS: 'justakey', LOG_LEVEL: 'loud' }
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const [node, ...args] = dist('server.js')
    const child = execFile(node!, args, { cwd: root, env, timeout: 60_000 }, (_err, _out, stderr) =>
      resolve({ code: child.exitCode, stderr })
    )
  })
  t.equal(code, 1, 'exit code 1')
  const lines = stderr.split('\n').filter((l) => l.startsWith('  - '))
  t.same(lines.map((l) => l.slice(4).split(':')[0]).sort(), ['API_KEYS', 'GENESYS_REGION', 'LOG_LEVEL', 'PORT'], `each bad variable once:\n${stderr}`)
  t.match(stderr, /API_KEYS: entry 1 \(8 characters, no ":"; not shown, as it may be a key\) must be/)
  t.notMatch(stderr, /justakey/, 'an entry that may be a key is not echoed')
  t.match(stderr, /GENESYS_REGION: unknown region "nowhere"/)
  // In our words, not the validation library's ("expected number, received NaN").
  t.match(stderr, /^ {2}- PORT: must be a whole number from 0 to 65535$/m)
  t.match(stderr, /^ {2}- LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent$/m)
})

t.test('REDIS_CLUSTER_NODES: seed nodes, with TLS and credentials as in REDIS_URL, exclusive with it', async (t) => {
  t.same(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002' }).redisCluster, {
    nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '::1', port: 7002 }],
    tls: false,
  })
  t.equal(loadConfig({ REDIS_CLUSTER_NODES: 'h:1' }).redisUrl, undefined)
  t.same(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://app:p%40ss@cache-1.example:6379,cache-2.example:6379' }).redisCluster, {
    nodes: [{ host: 'cache-1.example', port: 6379 }, { host: 'cache-2.example', port: 6379 }],
    tls: true,
    username: 'app',
    password: 'p@ss',
  }, 'the scheme and credentials of an entry written as a URL apply to every node')
  t.same(loadConfig({ REDIS_CLUSTER_NODES: 'redis://:secret@a:1,redis://:secret@b:2' }).redisCluster, { nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], tls: false, password: 'secret' })
  t.equal(loadConfig({}).redisCluster, undefined)
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'a:1' }, /^REDIS_URL and REDIS_CLUSTER_NODES: set one or the other/],
    [{ REDIS_CLUSTER_NODES: ' , ' }, /^REDIS_CLUSTER_NODES: is set but holds no host:port/],
    [{ REDIS_CLUSTER_NODES: 'a:1,b' }, /^REDIS_CLUSTER_NODES: entry 2 must be host:port/],
    [{ REDIS_CLUSTER_NODES: 'a:99999' }, /^REDIS_CLUSTER_NODES: entry 1 must be host:port/],
    [{ REDIS_CLUSTER_NODES: 'http://a:1' }, /^REDIS_CLUSTER_NODES: entry 1 must be .*rediss:\/\//],
    [{ REDIS_CLUSTER_NODES: 'redis://a:1/2' }, /^REDIS_CLUSTER_NODES: entry 1 .*no database number/],
    [{ REDIS_CLUSTER_NODES: 'rediss://a:1,redis://b:2' }, /^REDIS_CLUSTER_NODES: entry 2 gives another scheme or other credentials/],
  ]
  for (const [env, message] of cases) {
    const found = problems(env)
    t.ok(found.length === 1 && message.test(found[0]!), `${JSON.stringify(env)} → ${JSON.stringify(found)}`)
  }
  // A password written without a scheme, or a different one: refused, never echoed.
  for (const raw of ['app:hunter2hunter2@a:1', 'rediss://u:hunter2hunter2@a:1,rediss://u:other-secret-1@b:1']) {
    const found = problems({ REDIS_CLUSTER_NODES: raw })
    t.equal(found.length, 1)
    t.notMatch(found.join('\n'), /hunter2|other-secret/, 'the message names the entry by position, without its password')
  }
})
