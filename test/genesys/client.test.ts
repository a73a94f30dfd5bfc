import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Agent } from 'undici'
import { merge } from '../../src/attributes/merge.ts'
import { ApiError, CATALOGUE } from '../../src/errors.ts'
import { GenesysClient } from '../../src/genesys/client.ts'
import { TokenProvider } from '../../src/genesys/token.ts'
import { toApiError } from '../../src/updates/answer.ts'
import { id, startStack, until, type Teardown } from '../helpers/stack.ts'

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

/** A fake Genesys that answers tokens normally and the API with `api`. */
async function upstream (t: Teardown, api: Handler, token?: Handler) {
  // The org's rate limit (the Limits API), read once at a service's start-up, is counted apart.
  const seen = { token: 0, api: 0, limits: 0 }
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      if (req.url === '/oauth/token') {
        seen.token++
        if (token) return token(req, res, body)
        res.setHeader('content-type', 'application/json')
        return res.end(JSON.stringify({ access_token: `tok-${seen.token}`, token_type: 'bearer', expires_in: 3600 }))
      }
      if (req.url?.includes('/organizations/limits/')) seen.limits++
      else seen.api++
      api(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, seen }
}

function client (url: string, timeoutMs = 2000) {
  const dispatcher = new Agent()
  const http = { dispatcher, timeoutMs }
  const tokens = new TokenProvider({ ...http, loginUrl: url, clientId: 'id', clientSecret: 'secret' })
  return new GenesysClient({ ...http, apiUrl: url, tokens })
}

/** A failure as callers are told it (its catalogue answer), with whether its catalogue entry lets it be tried again. */
async function failure (p: Promise<unknown>): Promise<ApiError & { retryable: boolean }> {
  try {
    await p
  } catch (err) {
    const answer = toApiError(err)
    if (answer instanceof ApiError) return Object.assign(answer, { retryable: CATALOGUE[answer.code].retryable })
    throw err
  }
  throw new Error('expected a failure')
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'inin-correlation-id': 'corr-123', ...headers })
  res.end(JSON.stringify(body))
}

t.test('a 401 from the API drops the token, so the next call fetches a fresh one', async (t) => {
  const { url, seen } = await upstream(t, (_q, res) => json(res, 401, { code: 'bad.credentials', message: 'Invalid login credentials.', status: 401 }))
  const c = client(url)
  const err = await failure(c.getConversation(id()))
  t.equal(err.code, 'UPSTREAM_AUTH_FAILED')
  t.equal(err.retryable, true, 'its code is retryable: one retry with a new token')
  t.equal(err.upstream?.code, 'bad.credentials')
  await failure(c.getConversation(id()))
  t.same(seen, { api: 2, token: 2, limits: 0 }, 'the second call came with a second token')
})

t.test('through the service: an API that keeps answering 401 gets one retry, then UPSTREAM_AUTH_FAILED', async (t) => {
  const { url, seen } = await upstream(t, (_q, res) => json(res, 401, { code: 'bad.credentials', message: 'Invalid login credentials.', status: 401 }))
  const { post } = await startStack(t, { env: { GENESYS_API_URL: url, GENESYS_LOGIN_URL: url } })
  // Its start-up read of the org's limit meets the same 401 (and drops its token); then the write.
  await until(() => seen.limits === 1 && seen.token === 1)
  const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } })
  t.equal(a.status, 502)
  t.equal(a.body.code, 'UPSTREAM_AUTH_FAILED')
  t.same(seen, { api: 2, token: 3, limits: 1 }, 'tried twice, with two tokens of its own')
})

t.test('each Genesys failure becomes the catalogue code that tells the truth about the write', async (t) => {
  const cases: Array<{ name: string; status: number; body: unknown; op: 'get' | 'patch'; code: string; retryable?: boolean; retryAfter?: number; headers?: Record<string, string> }> = [
    { name: '404 on read', status: 404, body: { code: 'not.found', message: 'gone' }, op: 'get', code: 'CONVERSATION_NOT_FOUND' },
    { name: '404 on write', status: 404, body: { code: 'not.found', message: 'gone' }, op: 'patch', code: 'PARTICIPANT_NOT_FOUND' },
    { name: '409 on write', status: 409, body: { code: 'conflict', message: 'changed' }, op: 'patch', retryable: true, code: 'UPSTREAM_CONFLICT' },
    { name: '429 with Retry-After', status: 429, body: { code: 'too.many.requests.retry.after', message: 'slow down' }, op: 'patch', retryable: true, code: 'UPSTREAM_RATE_LIMITED', retryAfter: 7, headers: { 'retry-after': '7' } },
    // A 429 from a proxy in between may lack Retry-After: a short pause, not none.
    { name: '429 without Retry-After', status: 429, body: { code: 'too.many.requests' }, op: 'get', retryable: true, code: 'UPSTREAM_RATE_LIMITED', retryAfter: 1 },
    { name: '403 missing permissions', status: 403, body: { code: 'missing.permissions', message: 'no' }, op: 'patch', retryable: true, code: 'UPSTREAM_AUTH_FAILED' },
    { name: '400 on write', status: 400, body: { code: 'invalid.value', message: 'attribute rejected' }, op: 'patch', code: 'UPSTREAM_REJECTED' },
    { name: '408 on write: Genesys never got the whole request', status: 408, body: { code: 'request.timeout' }, op: 'patch', retryable: true, code: 'UPSTREAM_ERROR' },
    { name: '500 on read: nothing was written', status: 500, body: { code: 'internal.server.error' }, op: 'get', retryable: true, code: 'UPSTREAM_ERROR' },
    { name: '500 on write: may or may not have been applied', status: 500, body: { code: 'internal.server.error' }, op: 'patch', retryable: true, code: 'UPSTREAM_OUTCOME_UNKNOWN' },
    { name: '502 with an HTML page', status: 502, body: '<html>bad gateway</html>', op: 'get', retryable: true, code: 'UPSTREAM_ERROR' },
  ]
  for (const k of cases) {
    const { url } = await upstream(t, (_q, res) =>
      typeof k.body === 'string' ? (res.writeHead(k.status, { 'inin-correlation-id': 'corr-123' }), res.end(k.body)) : json(res, k.status, k.body, k.headers)
    )
    const c = client(url)
    const err = await failure(k.op === 'get' ? c.getConversation(id()) : c.patchParticipantAttributes(id(), id(), { a: 'b' }))
    t.test(k.name, async (t) => {
      t.equal(err.code, k.code)
      t.equal(err.upstream?.status, k.status, 'quotes the Genesys status')
      t.equal(err.upstream?.correlationId, 'corr-123', 'quotes inin-correlation-id')
      if (typeof k.body === 'object' && k.body !== null && 'code' in k.body) t.equal(err.upstream?.code, (k.body as { code: string }).code, 'quotes the Genesys code')
      if (k.retryAfter !== undefined) t.equal(err.retryAfter, k.retryAfter, 'carries the wait Genesys asked for')
      t.equal(err.retryable, k.retryable ?? false, k.retryable ? 'worth a retry' : 'not worth a retry')
    })
  }
})

t.test('a 200 to the read that is not a conversation is an upstream error, never a 500', async (t) => {
  const bodies: Array<[string, string]> = [
    ['HTML', '<html>login</html>'],
    ['truncated JSON', '{"id":"x","partic'],
    ['no participants', '{"id":"x"}'],
    ['a null participant', '{"id":"x","participants":[null]}'],
    ['a non-string attribute value', '{"id":"x","participants":[{"id":"p","purpose":"customer","attributes":{"a":1}}]}'],
    ['attributes that are a list', '{"id":"x","participants":[{"id":"p","purpose":"customer","attributes":["a"]}]}'],
    ['attributes that are null', '{"id":"x","participants":[{"id":"p","purpose":"customer","attributes":null}]}'],
  ]
  for (const [name, body] of bodies) {
    const { url } = await upstream(t, (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body))
    t.equal((await failure(client(url).getConversation(id()))).code, 'UPSTREAM_ERROR', name)
  }
})

t.test('an attribute named __proto__ that another system set is read as an ordinary key', async (t) => {
  const body = '{"id":"x","participants":[{"id":"p","purpose":"customer","attributes":{"__proto__":"kept","a":"b"}}]}'
  const { url } = await upstream(t, (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body))
  const attributes = (await client(url).getConversation(id())).participants[0]!.attributes!
  t.same(Object.entries(attributes), [['__proto__', 'kept'], ['a', 'b']], 'both keys, as own properties')
  t.equal(JSON.stringify(merge(attributes, { c: 'd' })), '{"__proto__":"kept","a":"b","c":"d"}', 'and a merged write keeps it')
})

t.test('a write answered 202 whose body is then cut off has landed', async (t) => {
  const { url } = await upstream(t, (_q, res) => {
    res.writeHead(202, { 'content-length': '100' })
    res.write('{"attr')
    setTimeout(() => res.socket?.destroy(), 20)
  })
  await client(url).patchParticipantAttributes(id(), id(), { a: 'b' })
  t.pass('resolved as written')
})

t.test('no answer at all', async (t) => {
  t.test('connection refused: nothing was sent, so the write is known not applied', async (t) => {
    const { url } = await upstream(t, (_q, res) => res.end())
    const c = client(url.replace(/:\d+$/, ':1'))
    t.equal((await failure(c.patchParticipantAttributes(id(), id(), { a: 'b' }))).code, 'UPSTREAM_ERROR')
  })
  t.test('socket dropped after the write was received: outcome unknown', async (t) => {
    const { url } = await upstream(t, (req, res) => (req.method === 'GET' ? json(res, 200, { id: 'x', participants: [] }) : res.socket?.destroy()))
    const c = client(url)
    t.equal((await failure(c.patchParticipantAttributes(id(), id(), { a: 'b' }))).code, 'UPSTREAM_OUTCOME_UNKNOWN')
    t.equal((await failure(c.getConversation(id()).then(() => c.patchParticipantAttributes(id(), id(), { a: 'b' })))).code, 'UPSTREAM_OUTCOME_UNKNOWN')
  })
  t.test('write not answered within the timeout: outcome unknown', async (t) => {
    const { url } = await upstream(t, () => {})
    const err = await failure(client(url, 200).patchParticipantAttributes(id(), id(), { a: 'b' }))
    t.equal(err.code, 'UPSTREAM_OUTCOME_UNKNOWN')
    t.match(err.detail, /UND_ERR_HEADERS_TIMEOUT/)
  })
  t.test('token endpoint answers 200 without a token', async (t) => {
    const { url } = await upstream(t, (_q, res) => res.end(), (_q, res) => json(res, 200, { token_type: 'bearer' }))
    t.equal((await failure(client(url).getConversation(id()))).code, 'UPSTREAM_AUTH_FAILED')
  })
})

t.test('through the service: a Genesys 429 is answered 503 with Retry-After', async (t) => {
  const { url } = await upstream(t, (req, res) =>
    req.method === 'GET' ? json(res, 200, { id: 'x', participants: [] }) : json(res, 429, { code: 'too.many.requests', message: 'Rate limit exceeded' }, { 'retry-after': '9' })
  )
  const { post } = await startStack(t, { env: { GENESYS_API_URL: url, GENESYS_LOGIN_URL: url } })
  const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } })
  t.equal(a.status, 503)
  t.equal(a.body.code, 'UPSTREAM_RATE_LIMITED')
  t.equal(a.headers['retry-after'], '9')
  t.equal(a.body.upstream.correlationId, 'corr-123')
})

t.test('a write refused by a pool already destroyed was never sent: known not applied', async (t) => {
  const { url } = await upstream(t, (_q, res) => json(res, 200, { id: 'x', participants: [] }))
  const dispatcher = new Agent()
  const http = { dispatcher, timeoutMs: 2000 }
  const c = new GenesysClient({ ...http, apiUrl: url, tokens: new TokenProvider({ ...http, loginUrl: url, clientId: 'id', clientSecret: 'secret' }) })
  await c.getConversation(id()) // the token is cached: the write's own request is the first to meet the pool
  await dispatcher.destroy()
  const err = await failure(c.patchParticipantAttributes(id(), id(), { a: 'b' }))
  t.equal(err.code, 'UPSTREAM_ERROR', 'not "outcome unknown": nothing was dispatched')
  t.match(err.detail, /UND_ERR_DESTROYED/)
})

t.test("the org's token rate limit from the Limits API: read, absent, malformed, refused", async (t) => {
  const answers: Array<[number, string]> = [
    [200, JSON.stringify({ entities: [{ key: 'token.rate.per.minute', namespace: 'platform.api', value: 300 }, { key: 'client.credentials.token.rate.per.minute', namespace: 'platform.api', value: 600 }] })],
    [200, JSON.stringify({ entities: [{ key: 'token.rate.per.minute', namespace: 'platform.api', value: 300 }] })],
    [200, '<html>a proxy</html>'],
    [403, JSON.stringify({ code: 'missing.permissions', message: 'no' })],
  ]
  const paths: string[] = []
  const { url } = await upstream(t, (req, res) => {
    paths.push(req.url!)
    const [status, body] = answers.shift()!
    res.writeHead(status, { 'content-type': 'application/json' }).end(body)
  })
  const c = client(url)
  t.equal(await c.getTokenRateLimit(), 600)
  t.equal(await c.getTokenRateLimit(), undefined, 'an answer that does not name it')
  t.match(await failure(c.getTokenRateLimit()), { code: 'UPSTREAM_ERROR' })
  t.match(await failure(c.getTokenRateLimit()), { status: 502 })
  t.same(paths, Array(4).fill('/api/v2/organizations/limits/namespaces/platform.api'))
})
