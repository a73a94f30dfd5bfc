import t from 'tap'
import { id, send, startStack } from '../helpers/stack.ts'
import { FakeClock } from '../helpers/clock.ts'

const write = (post: (p: string, b: unknown) => Promise<{ status: number }>) => post(`/participants/${id()}/${id()}/data`, { attributes: { a: 'b' } })

t.test('50 concurrent requests on a cold start share one token request', async (t) => {
  const { sim, post } = await startStack(t)
  const answers = await Promise.all(Array.from({ length: 50 }, () => write(post)))
  t.ok(answers.every((a) => a.status === 200), 'all answered 200')
  t.equal(sim.stats.tokenRequests, 1, 'exactly one token request')
})

t.test('an expired token is refreshed once, before any request is refused with it', async (t) => {
  // One clock for the simulator and the service, so "expired" means the same to both.
  const clock = new FakeClock(Date.now())
  const { sim, post } = await startStack(t, { sim: { clock: clock.now, tokenTtlSeconds: 300 }, deps: { clock } })
  t.equal((await write(post)).status, 200)
  t.equal(sim.stats.tokenRequests, 1)

  await clock.advance(301_000)
  const answers = await Promise.all(Array.from({ length: 20 }, () => write(post)))
  t.ok(answers.every((a) => a.status === 200), 'all answered 200 after expiry')
  t.equal(sim.stats.tokenRequests, 2, 'one refresh for all 20 callers')
  t.equal(sim.stats.unauthorized, 0, 'no request went out with the expired token')

  await clock.advance(300_000 - 30_000) // inside the last tenth of the new token's life
  t.equal((await write(post)).status, 200)
  t.equal(sim.stats.tokenRequests, 3, 'refreshed shortly before expiry, not after')
  t.equal(sim.stats.unauthorized, 0)
})

t.test('a 401 from the API is followed by one refresh and one retry', async (t) => {
  const { sim, post } = await startStack(t)
  t.equal((await write(post)).status, 200)
  sim.revokeTokens()
  t.equal((await write(post)).status, 200, 'the caller never sees the revoked token')
  t.equal(sim.stats.unauthorized, 1, 'one 401')
  t.equal(sim.stats.tokenRequests, 2, 'one refresh')

  sim.revokeTokens()
  const answers = await Promise.all(Array.from({ length: 20 }, () => write(post)))
  t.ok(answers.every((a) => a.status === 200), '20 concurrent callers hit by the revocation all succeed')
  t.equal(sim.stats.tokenRequests, 3, 'and share one refresh between them')
})

t.test('wrong client credentials: 502 UPSTREAM_AUTH_FAILED quoting Genesys, and not ready (503)', async (t) => {
  const { url, post } = await startStack(t, { env: { GENESYS_CLIENT_SECRET: 'wrong' } })
  const a = await write(post)
  t.equal(a.status, 502)
  t.equal((a as any).body.code, 'UPSTREAM_AUTH_FAILED')
  t.equal((a as any).body.upstream.code, 'invalid_client')
  t.equal((a as any).body.upstream.status, 401)
  t.match((a as any).body.upstream.correlationId, /^[0-9a-f-]{36}$/, 'the inin-correlation-id is quoted for Genesys support')
  const ready = await send(`${url}/readyz`, 'GET')
  t.equal(ready.status, 503, 'readiness fails while no token can be had: 503, like every other not-ready cause')
  t.equal((ready as any).body.code, 'UPSTREAM_AUTH_FAILED', 'the cause is named')
  t.match((ready as any).body.detail, /401 to token/)
  t.equal((await send(`${url}/healthz`, 'GET')).status, 200, 'liveness does not depend on Genesys')
})
