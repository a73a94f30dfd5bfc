import t from 'tap'
import { request } from 'undici'
import { id, send, startStack } from '../helpers/stack.ts'

const KEY = 'crm-key-0123456789abcdef'
const auth = { authorization: `Bearer ${KEY}` }
const basic = (user: string, pass: string) => ({ authorization: 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64') })

t.test('bad input gets the right 4xx, code and field, and writes nothing', async (t) => {
  const { sim, url } = await startStack(t, { env: { API_KEYS: `crm:${KEY},flow:flow-key-0123456789abcdef` } })
  const c = id()
  const p = id()
  const path = `/participants/${c}/${p}/data`

  interface Case {
    name: string
    path?: string
    body?: unknown
    headers?: Record<string, string>
    status: number
    code: string
    /** The JSON Pointer of an offending field that must be listed. */
    field?: string
  }
  const cases: Case[] = [
    { name: 'conversation id not a UUID', path: `/participants/nope/${p}/data`, body: { attributes: { a: 'b' } }, status: 400, code: 'INVALID_ID', field: '/conversationId' },
    { name: 'participant id not a UUID', path: `/participants/${c}/12345/data`, body: { attributes: { a: 'b' } }, status: 400, code: 'INVALID_ID', field: '/participantId' },
    { name: 'UUID without dashes', path: `/participants/${c.replaceAll('-', '')}/${p}/data`, body: { attributes: { a: 'b' } }, status: 400, code: 'INVALID_ID', field: '/conversationId' },
    { name: 'UUID with a non-hex character', path: `/participants/${c.slice(0, -1)}g/${p}/data`, body: { attributes: { a: 'b' } }, status: 400, code: 'INVALID_ID', field: '/conversationId' },
    { name: 'broken %-escape in an id', path: `/participants/%zz/${p}/data`, body: { attributes: { a: 'b' } }, status: 400, code: 'INVALID_ID' },
    { name: 'id longer than any id can be', path: `/participants/${'a'.repeat(150)}/${p}/data`, body: { attributes: { a: 'b' } }, status: 400, code: 'INVALID_ID' },
    { name: 'body is an array', body: [], status: 400, code: 'INVALID_BODY', field: '' },
    { name: 'body is a string', body: '"attributes"', status: 400, code: 'INVALID_BODY', field: '' },
    { name: 'body is empty JSON object', body: {}, status: 400, code: 'INVALID_BODY', field: '/attributes' },
    { name: 'attributes is empty', body: { attributes: {} }, status: 400, code: 'INVALID_BODY', field: '/attributes' },
    { name: 'attributes is an array', body: { attributes: [['a', 'b']] }, status: 400, code: 'INVALID_BODY', field: '/attributes' },
    { name: 'attributes is a string', body: { attributes: 'a=b' }, status: 400, code: 'INVALID_BODY', field: '/attributes' },
    { name: 'both attributes and data', body: { attributes: { a: 'b' }, data: { c: 'd' } }, status: 400, code: 'INVALID_BODY', field: '/data' },
    { name: 'misspelled top-level field', body: { atributes: { a: 'b' } }, status: 400, code: 'INVALID_BODY', field: '/atributes' },
    { name: 'nested object value', body: { attributes: { a: 'ok', crm: { id: 1 } } }, status: 400, code: 'INVALID_BODY', field: '/attributes/crm' },
    { name: 'array value', body: { data: { tags: ['a', 'b'] } }, status: 400, code: 'INVALID_BODY', field: '/data/tags' },
    { name: '__proto__ key', body: '{"attributes":{"__proto__":"x"}}', status: 400, code: 'INVALID_BODY', field: '/attributes/__proto__' },
    { name: 'nested __proto__ object', body: '{"attributes":{"__proto__":{"polluted":"yes"}}}', status: 400, code: 'INVALID_BODY', field: '/attributes/__proto__' },
    { name: 'constructor key', body: { attributes: { constructor: 'x' } }, status: 400, code: 'INVALID_BODY', field: '/attributes/constructor' },
    { name: 'prototype key', body: { attributes: { prototype: 'x' } }, status: 400, code: 'INVALID_BODY', field: '/attributes/prototype' },
    { name: 'key with a space', body: { attributes: { 'customer tier': 'gold' } }, status: 400, code: 'INVALID_BODY', field: '/attributes/customer tier' },
    { name: 'key with a tab', body: { attributes: { 'a\tb': 'x' } }, status: 400, code: 'INVALID_BODY', field: '/attributes/a\tb' },
    { name: 'key with a control character', body: { attributes: { 'a\u0001': 'x' } }, status: 400, code: 'INVALID_BODY', field: '/attributes/a\u0001' },
    { name: 'empty key', body: { attributes: { '': 'x' } }, status: 400, code: 'INVALID_BODY', field: '/attributes/' },
    { name: 'key over 256 characters', body: { attributes: { ['k'.repeat(257)]: 'x' } }, status: 400, code: 'INVALID_BODY', field: `/attributes/${'k'.repeat(257)}` },
    { name: 'value over the length limit', body: { attributes: { notes: 'v'.repeat(1025) } }, status: 400, code: 'INVALID_BODY', field: '/attributes/notes' },
    { name: 'more attributes than allowed', body: { attributes: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }, status: 400, code: 'INVALID_BODY', field: '/attributes' },
    { name: 'slash in a bad key is escaped in the pointer', body: { attributes: { 'a/b~c': {} } }, status: 400, code: 'INVALID_BODY', field: '/attributes/a~1b~0c' },
    { name: 'participantId does not match the path', body: { participantId: id(), attributes: { a: 'b' } }, status: 400, code: 'INVALID_BODY', field: '/participantId' },
    { name: 'participantId is not a string', body: { participantId: 7, attributes: { a: 'b' } }, status: 400, code: 'INVALID_BODY', field: '/participantId' },
    // The whole body at fault: errors[] still lists it, at the root pointer "".
    { name: 'malformed JSON', body: '{"attributes": {"a": "b"', status: 400, code: 'INVALID_BODY', field: '' },
    { name: 'empty body', body: '', status: 400, code: 'INVALID_BODY', field: '' },
    // No Content-Type is not JSON, as the README's table says, even with nothing after it.
    { name: 'no body and no content type', body: undefined, headers: {}, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'not JSON', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'body over 64 KiB', body: { attributes: { a: 'x'.repeat(65 * 1024) } }, status: 413, code: 'BODY_TOO_LARGE' },
    { name: 'no credentials', body: { attributes: { a: 'b' } }, headers: { authorization: '' }, status: 401, code: 'UNAUTHORIZED' },
    { name: 'unknown bearer key', body: { attributes: { a: 'b' } }, headers: { authorization: 'Bearer not-a-key' }, status: 401, code: 'UNAUTHORIZED' },
    { name: 'unknown X-API-Key', body: { attributes: { a: 'b' } }, headers: { authorization: '', 'x-api-key': 'not-a-key' }, status: 401, code: 'UNAUTHORIZED' },
    { name: 'Basic auth with the wrong password', body: { attributes: { a: 'b' } }, headers: basic('crm', 'nope'), status: 401, code: 'UNAUTHORIZED' },
    { name: 'Basic auth with the key as user name', body: { attributes: { a: 'b' } }, headers: basic(KEY, ''), status: 401, code: 'UNAUTHORIZED' },
    { name: 'unknown auth scheme', body: { attributes: { a: 'b' } }, headers: { authorization: `Token ${KEY}` }, status: 401, code: 'UNAUTHORIZED' },
    { name: 'a key that is a prefix of a real one', body: { attributes: { a: 'b' } }, headers: { authorization: `Bearer ${KEY.slice(0, -1)}` }, status: 401, code: 'UNAUTHORIZED' },
    { name: 'unknown route', path: `/participant/${c}/${p}/data`, body: { attributes: { a: 'b' } }, status: 404, code: 'ROUTE_NOT_FOUND' },
  ]

  for (const k of cases) {
    const headers: Record<string, string> = { ...auth, ...k.headers }
    if (headers.authorization === '') delete headers.authorization
    if (k.body !== undefined && !('content-type' in headers)) headers['content-type'] = 'application/json'
    const a = await send(url + (k.path ?? path), 'POST', k.body === undefined ? undefined : typeof k.body === 'string' ? k.body : JSON.stringify(k.body), headers)
    t.test(k.name, async (t) => {
      t.equal(a.status, k.status, 'status')
      t.equal(a.body?.code, k.code, 'code')
      t.equal(a.body?.status, k.status, 'status repeated in the problem')
      t.match(a.headers['content-type'], /^application\/problem\+json/, 'problem+json')
      t.type(a.body?.detail, 'string', 'a detail says what is wrong')
      if (k.field !== undefined) t.ok(a.body?.errors?.some((e: { path: string }) => e.path === k.field), `names ${JSON.stringify(k.field)}: ${JSON.stringify(a.body?.errors)}`)
      if (k.status === 401) t.match(a.headers['www-authenticate'], /^Bearer, Basic/, 'names the schemes that work')
    })
  }
  t.equal(sim.stats.writes, 0, 'no rejected request reached Genesys')
})

t.test('accepted shapes, coercion and every way to present a key', async (t) => {
  const { sim, url } = await startStack(t, { env: { API_KEYS: `crm:${KEY},flow:flow-key-0123456789abcdef` } })
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { gone: 'soon', kept: 'yes' } }] })
  const post = (body: unknown, headers: Record<string, string> = auth) => send(`${url}/participants/${c}/${p}/data`, 'POST', body, headers)

  const a = await post({ attributes: { s: 'text', n: 42, f: 1.5, yes: true, no: false, gone: null, 'crm.id/x': 'ok' } })
  t.equal(a.status, 200)
  t.same(a.body.attributes, { gone: '', kept: 'yes', s: 'text', n: '42', f: '1.5', yes: 'true', no: 'false', 'crm.id/x': 'ok' }, 'coerced, cleared, and the unmentioned key kept')
  t.same(a.body.updated, ['s', 'n', 'f', 'yes', 'no', 'gone', 'crm.id/x'])
  t.equal(a.headers['cache-control'], 'no-store')
  t.same(sim.conversation(c)!.participants[0]!.attributes, a.body.attributes, 'the answer is what Genesys now holds')

  const d = await post({ data: { via: 'data' }, participantId: p.toUpperCase() }, { 'x-api-key': 'flow-key-0123456789abcdef' })
  t.equal(d.status, 200, '"data" shape with a matching participantId (any case), X-API-Key')
  t.equal(d.body.attributes.via, 'data')

  const b = await post({ attributes: { via: 'basic' } }, basic('anything', 'flow-key-0123456789abcdef'))
  t.equal(b.status, 200, 'Basic auth with the key as password, as a Data Action basicAuth credential sends it')

  const upper = await send(`${url}/participants/${c.toUpperCase()}/${p.toUpperCase()}/data`, 'POST', { attributes: { via: 'upper' } }, auth)
  t.equal(upper.status, 200, 'upper-case ids are accepted')
  t.equal(upper.body.conversationId, c, 'and answered in Genesys form (lower case)')
  t.equal(sim.conversation(c)!.participants.length, 1, 'the same participant, not a second one')

  const max = await post({ attributes: { ['k'.repeat(256)]: 'v'.repeat(1024) } })
  t.equal(max.status, 200, 'a 256-character key with a 1,024-character value is within the limits')
})

t.test('limits are configurable', async (t) => {
  const { post } = await startStack(t, { env: { MAX_ATTRIBUTES_PER_REQUEST: '2', MAX_VALUE_LENGTH: '3' } })
  const path = `/participants/${id()}/${id()}/data`
  t.equal((await post(path, { attributes: { a: 'abc', b: 'abc' } })).status, 200)
  const many = await post(path, { attributes: { a: '1', b: '2', c: '3' } })
  t.equal(many.status, 400)
  t.match(many.body.detail, /at most 2/)
  const long = await post(path, { attributes: { a: 'abcd' } })
  t.equal(long.status, 400)
  t.match(long.body.errors[0].message, /at most 3/)
})

t.test('unknown conversation or participant in a strict Genesys: 404 with the right code', async (t) => {
  const { sim, post } = await startStack(t, { sim: { strict: true } })
  const c = id()
  const missing = await post(`/participants/${c}/${id()}/data`, { attributes: { a: 'b' } })
  t.equal(missing.status, 404)
  t.equal(missing.body.code, 'CONVERSATION_NOT_FOUND')
  t.equal(missing.body.upstream.code, 'not.found')
  sim.seed({ id: c, participants: [{ id: id(), purpose: 'customer' }] })
  const stranger = await post(`/participants/${c}/${id()}/data`, { attributes: { a: 'b' } })
  t.equal(stranger.status, 404)
  t.equal(stranger.body.code, 'PARTICIPANT_NOT_FOUND')
})

t.test('numbers are kept exactly as the caller wrote them, in the answer and in Genesys', async (t) => {
  const { sim, url } = await startStack(t)
  const c = id()
  const p = id()
  // Written as text: JSON.stringify would already have rounded them.
  const body = '{"attributes":{"account":98765432109876543210,"price":1.50,"k":1e3,"neg":-0,"n":42,"f":1.5,"e":-2.5E-3,"huge":1e400,"s":"7"}}'
  const a = await send(`${url}/participants/${c}/${p}/data`, 'POST', body)
  t.equal(a.status, 200)
  const exact = { account: '98765432109876543210', price: '1.50', k: '1e3', neg: '-0', n: '42', f: '1.5', e: '-2.5E-3', huge: '1e400', s: '7' }
  t.same(a.body.attributes, exact, 'the answer shows the digits sent')
  t.same(sim.attributes(c, p), exact, 'and so does Genesys')
  const data = await send(`${url}/conversations/${c}/data`, 'POST', '{"data":{"account":12345678901234567890123}}')
  t.equal(data.body.attributes.account, '12345678901234567890123', 'under "data" and on the conversation route too')
})

t.test('anything but a JSON body is 415 UNSUPPORTED_MEDIA_TYPE', async (t) => {
  const { sim, url } = await startStack(t)
  const path = `${url}/participants/${id()}/${id()}/data`
  const json = '{"attributes":{"a":"b"}}'
  for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/problem+json', 'application/merge-patch+json', 'application/xml', 'application/json; charset=iso-8859-1']) {
    const a = await send(path, 'POST', json, { 'content-type': type })
    t.equal(a.status, 415, type)
    t.equal(a.body.code, 'UNSUPPORTED_MEDIA_TYPE', type)
    t.match(a.body.detail, /application\/json|UTF-8/, `${type}: says what to send`)
  }
  const none = await request(path, { method: 'POST', body: json })
  t.equal(none.statusCode, 415, 'a body without a Content-Type')
  t.match(await none.body.json(), { code: 'UNSUPPORTED_MEDIA_TYPE', detail: /got no Content-Type/ })
  t.equal(sim.stats.writes, 0, 'none written')
  for (const type of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON']) {
    t.equal((await send(path, 'POST', json, { 'content-type': type })).status, 200, `${type} is JSON`)
  }
})

t.test('a body over the limit is told the limit', async (t) => {
  const { url } = await startStack(t)
  const body = JSON.stringify({ attributes: { a: 'x'.repeat(70_000 - 23) } })
  t.equal(Buffer.byteLength(body), 70_000)
  const a = await send(`${url}/participants/${id()}/${id()}/data`, 'POST', body)
  t.equal(a.status, 413)
  t.equal(a.body.code, 'BODY_TOO_LARGE')
  t.equal(a.body.detail, 'body is 70,000 bytes; at most 65,536 bytes (64 KiB)')
})

t.test('an unknown or empty query parameter is 400 INVALID_QUERY naming it', async (t) => {
  const { sim, url } = await startStack(t)
  const c = id()
  const p = id()
  const cases: Array<[string, 'GET' | 'POST', string]> = [
    [`/participants/${c}/${p}/data?dryrun=true`, 'POST', '/dryrun'],
    [`/conversations/${c}/data?x=1`, 'POST', '/x'],
    [`/participants/${c}/${p}/data?keys=`, 'GET', '/keys'],
    [`/participants/${c}/${p}/data?keys=,`, 'GET', '/keys'],
    [`/participants/${c}/${p}/data?key=a`, 'GET', '/key'],
  ]
  for (const [path, method, field] of cases) {
    const a = await send(url + path, method, method === 'POST' ? { attributes: { a: 'b' } } : undefined)
    t.equal(a.status, 400, `${method} ${path.replace(/^.*data/, '')}`)
    t.equal(a.body.code, 'INVALID_QUERY')
    t.match(a.body.errors, [{ in: 'query', path: field }], `names ${field}`)
    // The detail names the parameter as written in the URL; errors[] has its pointer.
    t.match(a.body.detail, `query parameter ${field.slice(1)}: `)
  }
  t.equal(sim.stats.writes, 0)
})

t.test('a method a route does not have is 405 with Allow, not 404', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: `crm:${KEY}` } })
  const c = id()
  const cases: Array<[string, string, string]> = [
    [`/participants/${c}/${id()}/data`, 'PUT', 'GET, HEAD, POST'],
    [`/participants/${c}/${id()}/data`, 'DELETE', 'GET, HEAD, POST'],
    [`/participants/${c}/${id()}/data`, 'PATCH', 'GET, HEAD, POST'],
    [`/conversations/${c}/data`, 'GET', 'POST'],
    ['/healthz', 'POST', 'GET, HEAD'],
  ]
  for (const [path, method, allow] of cases) {
    const res = await request(url + path, { method: method as 'PUT', headers: { 'content-type': 'application/json', ...auth }, body: method === 'GET' ? undefined : '{"attributes":{"a":"b"}}' })
    const body = (await res.body.json()) as { code: string; status: number; allow: string[] }
    t.equal(res.statusCode, 405, `${method} ${path}`)
    t.equal(res.headers.allow, allow, 'Allow lists the methods it has')
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(body, { code: 'METHOD_NOT_ALLOWED', status: 405, allow: allow.split(', ') })
  }
  const nowhere = await send(`${url}/participant/${c}/data`, 'POST', { attributes: { a: 'b' } }, auth)
  t.equal(nowhere.status, 404, 'a path no method has is still 404')
  t.equal(nowhere.body.code, 'ROUTE_NOT_FOUND')
})
