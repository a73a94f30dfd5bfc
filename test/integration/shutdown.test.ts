import t from 'tap'
import { Agent, request } from 'undici'
import { CATALOGUE } from '../../src/errors.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { startService } from '../helpers/process.ts'
import { id, send, startStack, TEST_READ_LAG_MS, until } from '../helpers/stack.ts'

t.test('SIGTERM in the middle of load: every request is answered, and every 2xx is in Genesys', async (t) => {
  const sim = buildSimulator({ clientId: 'c', clientSecret: 's', writeMs: 100, readLagMs: TEST_READ_LAG_MS })
  const simUrl = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const shutdownMs = 4000
  const svc = await startService(t, {
    GENESYS_CLIENT_ID: 'c',
    GENESYS_CLIENT_SECRET: 's',
    GENESYS_API_URL: simUrl,
    GENESYS_LOGIN_URL: simUrl,
    GENESYS_RATE_LIMIT_PER_MINUTE: '1000000',
    SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
  })

  // 40 keep-alive clients, 10 conversations: queues are always full when the signal comes.
  // Each sends until it is told the service is shutting down, as a load balancer would.
  const conversations = Array.from({ length: 10 }, () => ({ c: id(), p: id() }))
  const dispatcher = new Agent({ connections: 40 })
  t.teardown(() => dispatcher.destroy())
  const outcomes: Array<{ key: string; c: string; p: string; status: number; code?: string; error?: string; afterSignal: boolean }> = []
  let signalled = false
  let n = 0
  const worker = async (w: number) => {
    for (;;) {
      const { c, p } = conversations[w % conversations.length]!
      const key = `k${w}_${n++}`
      const afterSignal = signalled
      try {
        const res = await request(`${svc.url}/participants/${c}/${p}/data`, {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ attributes: { [key]: 'v' } }),
        })
        const body = (await res.body.json()) as { code?: string }
        outcomes.push({ key, c, p, status: res.statusCode, code: body.code, afterSignal })
        // As a load balancer does: an instance that said it is shutting down gets no more.
        if (body.code === 'SHUTTING_DOWN') return
      } catch (err) {
        outcomes.push({ key, c, p, status: 0, error: (err as { code?: string }).code ?? String(err), afterSignal })
        return
      }
    }
  }
  const workers = Array.from({ length: 40 }, (_, w) => worker(w))
  // The load is real: a hundred written before the signal, however long a busy machine takes to get there.
  await until(() => outcomes.filter((o) => o.status === 200).length, (n) => n > 100, { what: 'a hundred updates written before the signal' })
  signalled = true
  svc.child.kill('SIGTERM')
  // On its own: a service that never exits fails here, loudly, not at tap's timeout.
  const exit = await Promise.race([svc.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 10 * shutdownMs).unref())])
  await Promise.all(workers)

  const count = (f: (o: (typeof outcomes)[number]) => boolean) => outcomes.filter(f).length
  const byCode: Record<string, number> = {}
  for (const o of outcomes) byCode[o.code ?? o.error ?? String(o.status)] = (byCode[o.code ?? o.error ?? String(o.status)] ?? 0) + 1
  t.comment(`outcomes: ${JSON.stringify(byCode)}`)

  t.not(exit, 'running', 'exits after SIGTERM on its own')
  t.equal(exit !== 'running' && exit.code, 0, 'exits cleanly')
  t.equal(count((o) => o.status === 0), 0, 'no request was left without an answer')
  t.equal(count((o) => o.status >= 500 && o.status !== 502 && o.status !== 503 && o.status !== 504), 0, 'no 500')
  t.ok(outcomes.every((o) => o.status === 200 || (o.code !== undefined && o.code in CATALOGUE)), 'every failure carries a catalogue code')
  t.ok(count((o) => o.afterSignal && o.code === 'SHUTTING_DOWN') > 0, 'new requests after the signal are refused with 503 SHUTTING_DOWN')

  const stored = (o: { c: string; p: string; key: string }) => sim.attributes(o.c, o.p)?.[o.key] !== undefined
  const ok = outcomes.filter((o) => o.status === 200)
  t.equal(ok.filter((o) => !stored(o)).length, 0, `all ${ok.length} updates answered 200 are in the simulator`)
  const notApplied = outcomes.filter((o) => o.status !== 200 && o.code !== 'UPSTREAM_OUTCOME_UNKNOWN')
  t.equal(notApplied.filter(stored).length, 0, `none of the ${notApplied.length} answered "not written" was written`)
  t.match(svc.stdout(), /"msg":"shutting down"/, 'the shutdown is logged')
})

t.test('once shutdown starts, readiness and new requests get 503 SHUTTING_DOWN and the connection is closed', async (t) => {
  const { app, url, post } = await startStack(t)
  const stopped = app.shutdown(Date.now() + 2000)
  const ready = await send(`${url}/readyz`, 'GET')
  t.equal(ready.status, 503)
  t.equal(ready.body.code, 'SHUTTING_DOWN')
  t.equal(ready.headers.connection, 'close')
  const write = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })
  t.equal(write.body.code, 'SHUTTING_DOWN')
  t.equal(write.headers['retry-after'], '1')
  await stopped
})
