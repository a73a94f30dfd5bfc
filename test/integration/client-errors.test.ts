import t from 'tap'
import { exchange } from '../helpers/raw-http.ts'
import { id, startStack } from '../helpers/stack.ts'

// Issue 33, item 7: every refusal is problem+json with a catalogue code, Node's own included,
// and a compressed body is refused for what it is.

t.test('Node\'s own refusals are problem+json with a catalogue code', async (t) => {
  const { url } = await startStack(t)
  const cases: Array<[string, string, number, string, RegExp]> = [
    ['Content-Length with Transfer-Encoding', `POST /participants/${id()}/${id()}/data HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'BAD_REQUEST', /Content-Length and Transfer-Encoding/],
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400, 'BAD_REQUEST', /request line/],
    ['a header with no colon', 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n', 400, 'BAD_REQUEST', /malformed/],
    ['headers over 16 KiB', `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE', /headers/],
  ]
  for (const [what, bytes, status, code, detail] of cases) {
    const got = await exchange(url, bytes)
    t.equal(got.status, status, `${what}: ${status}`)
    t.match(got.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json, not {"error":"Bad Request"}`)
    const problem = JSON.parse(got.body)
    t.equal(problem.code, code)
    t.equal(problem.status, status)
    t.match(problem.detail, detail)
  }
})

t.test('a gzip or deflate body is 415 naming its Content-Encoding, not "not UTF-8"', async (t) => {
  const { app } = await startStack(t)
  const { gzipSync, deflateSync } = await import('node:zlib')
  const body = Buffer.from(JSON.stringify({ attributes: { a: '1' } }))
  for (const [encoding, payload] of [['gzip', gzipSync(body)], ['deflate', deflateSync(body)], ['GZip', gzipSync(body)]] as const) {
    const res = await app.inject({ method: 'POST', url: `/participants/${id()}/${id()}/data`, headers: { 'content-type': 'application/json', 'content-encoding': encoding }, payload })
    t.equal(res.statusCode, 415, encoding)
    t.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE')
    t.match(res.json().detail, `Content-Encoding ${encoding}`)
  }
  const plain = await app.inject({ method: 'POST', url: `/participants/${id()}/${id()}/data`, headers: { 'content-type': 'application/json', 'content-encoding': 'identity' }, payload: body })
  t.equal(plain.statusCode, 200, 'identity is no encoding')
})
