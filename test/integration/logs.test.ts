import { Writable } from 'node:stream'
import t from 'tap'
import { id, startStack } from '../helpers/stack.ts'

t.test('logs carry no secret and no attribute value, even at trace level', async (t) => {
  const lines: string[] = []
  const logStream = new Writable({
    write (chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const clientSecret = 'client-secret-9f8e7d6c5b4a'
  const apiKey = 'api-key-0a1b2c3d4e5f6a7b8c9d'
  const { app, post } = await startStack(t, {
    sim: { clientSecret },
    env: { GENESYS_CLIENT_SECRET: clientSecret, API_KEYS: `crm:${apiKey}`, LOG_LEVEL: 'trace', SIGNING_SECRETS: 'crm:signing-secret-0123456789' },
    deps: { logStream },
  })
  const values = ['PERSONAL-4111111111111111', 'jane.doe@example.com', 'NESTED-SECRET-VALUE', 'JSON-BROKEN-VALUE']
  const c = id()
  const p = id()
  const bearer = { authorization: `Bearer ${apiKey}` }
  const { sign } = await import('../../src/access/signature.ts')
  const body = JSON.stringify({ attributes: { card: values[0], email: values[1] } })
  const first = await post(`/participants/${c}/${p}/data`, body, { ...bearer, 'x-request-id': 'trace-me-42', 'x-signature': sign('signing-secret-0123456789', body) })
  t.equal(first.status, 200)
  t.equal(first.headers['x-request-id'], 'trace-me-42', 'the request id is echoed in the answer')
  const nestedBody = JSON.stringify({ attributes: { nested: { v: values[2] } } })
  const nested = await post(`/participants/${c}/${p}/data`, nestedBody, { ...bearer, 'x-request-id': 'bad id with spaces', 'x-signature': sign('signing-secret-0123456789', nestedBody) })
  t.equal(nested.status, 400)
  t.match(nested.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an unusable request id is replaced by a fresh one, echoed too')
  t.equal((await post(`/participants/${c}/${p}/data`, `{"attributes":{"a":"${values[3]}"`, bearer)).status, 400)
  t.equal((await post(`/participants/${c}/${p}/data`, { attributes: { a: 'b' } }, { 'x-api-key': `${apiKey}-wrong` })).status, 401)
  const accessToken = await app.services.tokens.get()
  await app.close()

  const all = lines.join('\n')
  t.ok(lines.length >= 4, `captured ${lines.length} lines`)
  for (const secret of [clientSecret, apiKey, accessToken, 'signing-secret-0123456789']) t.notOk(all.includes(secret), `no secret ${secret.slice(0, 10)}… in the logs`)
  for (const value of values) t.notOk(all.includes(value), `no attribute value ${value} in the logs`)

  const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
  t.equal(requests.length, 4, 'one line per request')
  t.match(requests[0], { reqId: 'trace-me-42', status: 200, caller: 'crm', keys: ['card', 'email'] }, 'the caller’s request id, key name (not the key) and attribute keys')
  t.ok(
    lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === 'trace-me-42').length >= 1,
    'every line logged for that request carries its id'
  )
  const upstream = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'genesys')
  // The org's rate limit is read at start-up, in parallel with the first write.
  t.same(upstream.map((l) => l.upstream).sort(), ['getConversation', 'getLimits', 'patchAttributes', 'token'], 'each Genesys call logged once (debug)')
  for (const l of upstream) t.match(l, { status: Number, ms: Number, correlationId: /^[0-9a-f-]{36}$/ })
  t.match(requests[1], { status: 400, code: 'INVALID_BODY' })
  t.match(requests[3], { status: 401, code: 'UNAUTHORIZED' })
})
