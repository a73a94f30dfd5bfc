import { Writable } from 'node:stream'
import t from 'tap'
import { id, startStack } from '../helpers/stack.js'

t.test('logs carry no secret and no attribute value, even at trace level', async (t) => {
  const lines: string[] = []
  const logStream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const clientSecret = 'client-secret-9f8e7d6c5b4a'
  const apiKey = 'api-key-0a1b2c3d4e5f6a7b8c9d'
  const { app, post } = await startStack(t, {
    sim: { clientSecret },
    env: { GENESYS_CLIENT_SECRET: clientSecret, API_KEYS: `crm:${apiKey}`, LOG_LEVEL: 'trace' },
    deps: { logStream },
  })
  const values = ['PERSONAL-4111111111111111', 'jane.doe@example.com', 'NESTED-SECRET-VALUE', 'JSON-BROKEN-VALUE']
  const c = id()
  const p = id()
  const bearer = { authorization: `Bearer ${apiKey}` }
  t.equal((await post(`/participants/${c}/${p}/data`, { attributes: { card: values[0], email: values[1] } }, { ...bearer, 'x-request-id': 'trace-me-42' })).status, 200)
  t.equal((await post(`/participants/${c}/${p}/data`, { attributes: { nested: { v: values[2] } } }, bearer)).status, 400)
  t.equal((await post(`/participants/${c}/${p}/data`, `{"attributes":{"a":"${values[3]}"`, bearer)).status, 400)
  t.equal((await post(`/participants/${c}/${p}/data`, { attributes: { a: 'b' } }, { 'x-api-key': `${apiKey}-wrong` })).status, 401)
  const accessToken = await app.tokens.get()
  await app.close()

  const all = lines.join('\n')
  t.ok(lines.length >= 4, `captured ${lines.length} lines`)
  for (const secret of [clientSecret, apiKey, accessToken]) t.notOk(all.includes(secret), `no secret ${secret.slice(0, 10)}… in the logs`)
  for (const value of values) t.notOk(all.includes(value), `no attribute value ${value} in the logs`)

  const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request')
  t.equal(requests.length, 4, 'one line per request')
  t.match(requests[0], { reqId: 'trace-me-42', status: 200, caller: 'crm' }, 'the caller’s request id and key name, not the key')
  t.match(requests[1], { status: 400, code: 'INVALID_BODY' })
  t.match(requests[3], { status: 401, code: 'UNAUTHORIZED' })
})
