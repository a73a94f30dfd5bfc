import t from 'tap'
import { ApiError, CATALOGUE, type ErrorCode } from '../../src/errors.ts'
import { fromNetwork, fromResponse, malformed, UpstreamError, type Retryable } from '../../src/genesys/upstream-error.ts'
import { toApiError } from '../../src/updates/answer.ts'
import { backoff, RetryPolicy } from '../../src/updates/retry.ts'
import { FakeClock } from '../helpers/clock.ts'

// A fake clock and fixed dice: every decision below is exact, and nothing waits.
const clock = new FakeClock()
const now = clock.now
const policy = (opts: { conflictRetries?: number; random?: number; maxAttempts?: number } = {}) =>
  new RetryPolicy({ conflictRetries: opts.conflictRetries ?? 5, maxAttempts: opts.maxAttempts, clock, random: () => opts.random ?? 0.5 })

/** A Genesys failure of each cause, as the client makes it; undefined: a 400 (UPSTREAM_REJECTED). */
const STATUS: Record<Retryable, number> = { conflict: 409, rate_limited: 429, server: 502, network: 0, token: 401 }
const fail = (cause: Retryable | undefined, retryAfter?: number) => {
  if (cause === 'network') return fromNetwork('getConversation', new Error('reset'), true)
  const headers = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }
  return fromResponse('getConversation', cause === undefined ? 400 : STATUS[cause], headers, '')
}
const far = () => now() + 600_000

t.test('backoff doubles from 50 ms, capped at 2 s, jittered ±50%', async (t) => {
  const r = policy({ maxAttempts: 20 }).begin()
  const delays = Array.from({ length: 9 }, () => r.after(fail('server'), far())?.delayMs)
  t.same(delays, [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000])
  t.equal(policy({ random: 0 }).begin().after(fail('server'), far())?.delayMs, 25, 'low end of the jitter')
  t.equal(policy({ random: 0.999 }).begin().after(fail('server'), far())?.delayMs, 75, 'high end of the jitter')
})

t.test('each cause is named, and the ones that would only fail again are not retried', async (t) => {
  for (const cause of ['conflict', 'rate_limited', 'server', 'network', 'token'] as const) {
    t.equal(policy().begin().after(fail(cause), far())?.cause, cause, `${cause} is retried`)
  }
  t.equal(policy().begin().after(fail(undefined), far()), undefined, 'a 4xx, bad credentials or junk: final')
  t.equal(policy().begin().after(new Error('bug'), far()), undefined, 'not an upstream failure: final')
  t.equal(policy().begin().after(new ApiError('RATE_BUDGET_EXHAUSTED', 'x'), far()), undefined, 'our own budget refusal: final')
})

t.test('409: at most conflictRetries re-reads', async (t) => {
  const r = policy({ conflictRetries: 2 }).begin()
  t.ok(r.after(fail('conflict'), far()))
  t.ok(r.after(fail('conflict'), far()))
  t.equal(r.after(fail('conflict'), far()), undefined, 'the third 409 is final')
  t.equal(policy({ conflictRetries: 0 }).begin().after(fail('conflict'), far()), undefined, 'zero means none')
})

t.test('401: one retry with a fresh token, not two', async (t) => {
  const r = policy().begin()
  t.ok(r.after(fail('token'), far()))
  t.equal(r.after(fail('token'), far()), undefined)
})

t.test('429 waits what Genesys asked when that is longer than the backoff', async (t) => {
  const r = policy().begin()
  t.equal(r.after(fail('rate_limited', 3), far())?.delayMs, 3000, 'Retry-After: 3')
  const asked0 = new UpstreamError('x', { operation: 'getConversation', kind: 'answer', status: 429, sent: true, retryAfter: 0 })
  t.equal(policy().begin().after(asked0, far())?.delayMs, 50, 'never less than the backoff')
})

t.test('a retry whose pause would end at or past the deadline is not taken', async (t) => {
  t.equal(policy().begin().after(fail('rate_limited', 3), now() + 3000), undefined, 'Retry-After 3 s, deadline in 3 s: answer now')
  t.equal(policy().begin().after(fail('rate_limited', 3), now() + 3001)?.delayMs, 3000, 'deadline in 3.001 s: wait')
  t.equal(policy().begin().after(fail('server'), now() + 50), undefined, 'backoff 50 ms, deadline in 50 ms')
  const r = policy().begin()
  t.ok(r.after(fail('server'), now() + 1000))
  await clock.advance(900)
  t.equal(r.after(fail('server'), now() + 100), undefined, 'the second backoff (100 ms) no longer fits')
})

t.test('attempts are capped whatever the deadline', async (t) => {
  const r = policy({ maxAttempts: 3 }).begin()
  t.ok(r.after(fail('network'), far()))
  t.ok(r.after(fail('network'), far()))
  t.equal(r.after(fail('network'), far()), undefined, 'three attempts, then final')
  const fresh = policy({ maxAttempts: 3 }).begin()
  t.ok(fresh.after(fail('network'), far()), 'each write counts its own')
})

t.test('retried exactly when the catalogue entry of the code it answers with says so: one list, for synchronous and asynchronous writes', async (t) => {
  const failures = [
    ...[400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504].flatMap((status) => [fromResponse('getConversation', status, {}, ''), fromResponse('patchAttributes', status, {}, '')]),
    fromResponse('token', 401, {}, ''),
    fromNetwork('patchAttributes', new Error('reset'), true),
    fromNetwork('getConversation', new Error('refused'), false),
    malformed('getConversation', 'not a conversation'),
  ]
  for (const err of failures) {
    const { code } = toApiError(err) as { code: ErrorCode }
    const retried = policy().begin().after(err, far()) !== undefined
    t.equal(retried, CATALOGUE[code].retryable, `${err.operation} ${err.status ?? err.kind}: ${code} ${retried ? 'retried' : 'final'}`)
  }
})

t.test('one backoff function: doubling, capped, jittered, never below what was asked', async (t) => {
  const b = { baseMs: 500, maxMs: 30_000, random: () => 0.5 }
  t.same([1, 2, 3, 7, 8].map((n) => backoff(b, n)), [500, 1000, 2000, 30_000, 30_000])
  t.equal(backoff(b, 1, 4), 4000, 'Retry-After: 4')
})
