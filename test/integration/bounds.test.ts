import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { answerOf, open } from '../helpers/raw-http.ts'
import { id, startStack } from '../helpers/stack.ts'

// Issue 33, items 6 and 7: an answer is never much larger than what it answers; a connection is
// held only as long as the configured timeouts, and only so many at once.

t.test('thousands of bad names get a bounded 400 that says how many more there were', async (t) => {
  const { app } = await startStack(t)
  const names = Array.from({ length: 5500 }, (_, i) => `"${i} x":1`)
  const payload = `{"attributes":{${names.join(',')}}}`
  t.ok(payload.length > 55_000 && payload.length < 65_536, 'about 59 KB, under the body limit')
  const res = await app.inject({ method: 'POST', url: `/participants/${id()}/${id()}/data`, headers: { 'content-type': 'application/json' }, payload })
  t.equal(res.statusCode, 400)
  const problem = res.json()
  t.equal(problem.code, 'INVALID_BODY')
  t.equal(problem.errors.length, 50, 'errors[] is capped at 50')
  t.equal(problem.errorsOmitted, 5501 - 50, 'and says how many more there were (5,500 names, and the count)')
  t.ok(res.body.length < 10_000, `the answer is ${res.body.length} bytes, not 615 KB`)
})

t.test('a body trickled in is answered 408 problem+json and the connection closed at HTTP_REQUEST_TIMEOUT_MS', { timeout: 20_000 }, async (t) => {
  const { url } = await startStack(t, { env: { HTTP_REQUEST_TIMEOUT_MS: '600', HTTP_HEADERS_TIMEOUT_MS: '300' } })
  const socket = await open(url)
  const answer = answerOf(socket)
  const body = JSON.stringify({ attributes: { a: '1' } })
  // Headers at once, then one byte of the body, and no more: the server must not wait for the rest.
  socket.write(`POST /participants/${id()}/${id()}/data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body[0]}`)
  const got = await answer
  t.equal(got.status, 408)
  t.match(got.headers['content-type'], /^application\/problem\+json/)
  t.equal(JSON.parse(got.body).code, 'REQUEST_TIMEOUT')
})

t.test('headers trickled in are answered 408 at HTTP_HEADERS_TIMEOUT_MS', { timeout: 20_000 }, async (t) => {
  const { url } = await startStack(t, { env: { HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '300' } })
  const socket = await open(url)
  const answer = answerOf(socket)
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
  const got = await answer
  t.equal(got.status, 408)
  t.equal(JSON.parse(got.body).code, 'REQUEST_TIMEOUT')
})

t.test('an idle keep-alive connection is closed at HTTP_KEEP_ALIVE_TIMEOUT_MS', { timeout: 20_000 }, async (t) => {
  const { url } = await startStack(t, { env: { HTTP_KEEP_ALIVE_TIMEOUT_MS: '300' } })
  const socket = await open(url)
  const answer = answerOf(socket)
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  const got = await answer
  t.equal(got.status, 200, 'answered, then closed by the server once idle (the test waits for the close, not a timer)')
})

t.test('past HTTP_MAX_CONNECTIONS a new connection is closed, and the open ones still answer', { timeout: 20_000 }, async (t) => {
  const { url } = await startStack(t, { env: { HTTP_MAX_CONNECTIONS: '2' } })
  const held = [await open(url), await open(url)]
  // Each answered once, so the server has surely counted it.
  for (const s of held) {
    const first = new Promise<string>((resolve) => s.once('data', (d) => resolve(String(d))))
    s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    t.match(await first, /^HTTP\/1\.1 200/)
  }
  const third = await open(url)
  const refused = answerOf(third)
  third.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  t.equal((await refused).text, '', 'the third connection is closed without an answer')
  for (const s of held) s.destroy()
})

t.test('the HTTP timeouts and connection cap are settable, with defaults, and checked at start-up', async (t) => {
  const config = loadConfig({ NODE_ENV: 'test' })
  t.same(config.http, { requestMs: 30_000, headersMs: 10_000, keepAliveMs: 72_000, maxConnections: 10_000 })
  t.throws(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '2000' }), ConfigError)
  t.throws(() => loadConfig({ HTTP_MAX_CONNECTIONS: '0' }), ConfigError)
})
