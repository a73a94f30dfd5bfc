import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Agent } from 'undici'
import { exchange, type Exchange, type HttpOptions, type Sent } from '../../src/genesys/http.ts'
import type { UpstreamOp } from '../../src/genesys/upstream-error.ts'
import { toApiError } from '../../src/updates/answer.ts'
import type { Teardown } from '../helpers/stack.ts'

/** A server that answers every request with `answer`, and the exchange() options to reach it. */
async function upstream (t: Teardown, answer: (res: ServerResponse) => void) {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => answer(res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dispatcher = new Agent()
  t.teardown(async () => {
    await dispatcher.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, dispatcher }
}

/** The exchange, failing as callers are told (a catalogue error). */
const answered = (op: UpstreamOp, req: Sent, opts: HttpOptions) => exchange(op, req, opts).catch((err: unknown) => Promise.reject(toApiError(err)))

/**
 * Settles, or fails the test instead of hanging it. The bound is far beyond a healthy exchange
 * (a busy machine took more than the second it once was): it only ends one that never settles.
 */
const settled = <T>(p: Promise<T>) => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.then((value) => ({ value }), (error: unknown) => ({ error })),
    new Promise<{ hung: true }>((resolve) => { timer = setTimeout(() => resolve({ hung: true }), 10_000) }),
  ]).finally(() => clearTimeout(timer))
}

t.test('a throwing onExchange rejects the call once; it never leaves it pending', async (t) => {
  const answers: Array<[string, (res: ServerResponse) => void]> = [
    ['a 200', (res) => res.end('{}')],
    ['a body cut off after the headers', (res) => { res.writeHead(200, { 'content-length': '100' }).write('{"a'); res.destroy() }],
  ]
  for (const [name, answer] of answers) {
    const { origin, dispatcher } = await upstream(t, answer)
    let calls = 0
    const onExchange = () => {
      calls++
      throw new Error('metrics broke')
    }
    const outcome = await settled(exchange('getConversation', { method: 'GET', origin, path: '/x', headers: {} }, { dispatcher, timeoutMs: 2000, onExchange }))
    t.same(outcome, { error: new Error('metrics broke') }, `${name}: rejected with what onExchange threw`)
    t.equal(calls, 1, `${name}: reported once`)
  }
})

t.test('an informational 103 is not the answer: a connection lost after it is reported as no answer', async (t) => {
  const { origin, dispatcher } = await upstream(t, (res) => {
    res.writeEarlyHints({ link: '</x>; rel=preload' })
    setTimeout(() => res.destroy(), 20)
  })
  const seen: Exchange[] = []
  const outcome = await settled(answered('getConversation', { method: 'GET', origin, path: '/x', headers: {} }, { dispatcher, timeoutMs: 2000, onExchange: (e) => seen.push(e) }))
  t.match(outcome, { error: { code: 'UPSTREAM_ERROR' } }, 'not written, nothing to retry blindly')
  t.same(seen.map((e) => e.status), [0], 'status 0: no answer came')
})

t.test('a pool that is already closed fails the call at once, reported once', async (t) => {
  const dispatcher = new Agent()
  await dispatcher.close()
  const seen: Exchange[] = []
  const outcome = await settled(answered('getConversation', { method: 'GET', origin: 'http://127.0.0.1:9', path: '/x', headers: {} }, { dispatcher, timeoutMs: 2000, onExchange: (e) => seen.push(e) }))
  t.match(outcome, { error: { code: 'UPSTREAM_ERROR' } }, 'a catalogue error, not a hang or a raw undici error')
  t.same(seen.map((e) => e.status), [0])
})

t.test('a PATCH refused by a pool already destroyed was not sent; one cut off mid-flight may have landed', async (t) => {
  const patch = { method: 'PATCH', path: '/x', headers: {}, body: '{}' } as const
  const destroyed = new Agent()
  await destroyed.destroy()
  const refused = await settled(exchange('patchAttributes', { ...patch, origin: 'http://127.0.0.1:9' }, { dispatcher: destroyed, timeoutMs: 2000 }))
  t.match(refused, { error: { sent: false, mayHaveLanded: false } }, 'nothing was dispatched')
  t.match(await settled(answered('patchAttributes', { ...patch, origin: 'http://127.0.0.1:9' }, { dispatcher: destroyed, timeoutMs: 2000 })), { error: { code: 'UPSTREAM_ERROR' } })
  const { origin, dispatcher } = await upstream(t, (res) => res.destroy())
  const cut = await settled(answered('patchAttributes', { ...patch, origin }, { dispatcher, timeoutMs: 2000 }))
  t.match(cut, { error: { code: 'UPSTREAM_OUTCOME_UNKNOWN' } }, 'received, then the connection dropped: may have landed')
})

t.test('a 2xx whose body is cut off is the answer only for a caller that needs the status alone', async (t) => {
  const { origin, dispatcher } = await upstream(t, (res) => {
    res.writeHead(202, { 'content-length': '100' })
    res.write('{"a')
    setTimeout(() => res.socket?.destroy(), 20)
  })
  const req = { method: 'PATCH', origin, path: '/x', headers: {}, body: '{}' } as const
  t.same(await settled(exchange('patchAttributes', { ...req, statusOnly: true }, { dispatcher, timeoutMs: 2000 })), { value: '' }, 'statusOnly: the 202 is the answer')
  t.match(await settled(exchange('getConversation', { ...req, method: 'GET' }, { dispatcher, timeoutMs: 2000 })), { error: { kind: 'network' } }, 'a body it needs is missing: no answer')
})
