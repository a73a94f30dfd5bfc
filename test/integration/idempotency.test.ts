import t from 'tap'
import { id, startStack, until } from '../helpers/stack.ts'

const keys = 'crm:crm-key,other:other-key'
const as = (key: string, idem?: string) => ({ 'x-api-key': key, ...(idem && { 'idempotency-key': idem }) })

t.test('a repeat with the same Idempotency-Key and body gets the first answer and writes nothing', async (t) => {
  const { sim, post } = await startStack(t, { env: { API_KEYS: keys } })
  const c = id()
  const p = id()
  const first = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, as('crm-key', 'order-1'))
  t.equal(first.status, 200)
  t.equal(first.headers['idempotent-replayed'], undefined)
  const writes = sim.stats.writes
  const reads = sim.stats.reads
  // Meanwhile someone else changed the participant: the replay still says what the first write did.
  await post(`/participants/${c}/${p}/data`, { attributes: { other: 'x' } }, as('crm-key'))
  const again = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, as('crm-key', 'order-1'))
  t.equal(again.status, 200)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.same(again.body, first.body, 'the first answer, word for word')
  t.equal(sim.stats.writes, writes + 1, 'only the other write reached Genesys')
  t.equal(sim.stats.reads, reads + 1, 'and the replay did not even read')

  const mine = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, as('other-key', 'order-1'))
  t.equal(mine.headers['idempotent-replayed'], undefined, 'keys are per API key: another caller\'s order-1 is its own')
})

t.test('the same key with a different body: 422 IDEMPOTENCY_KEY_REUSED, nothing written', async (t) => {
  const { sim, post } = await startStack(t, { env: { API_KEYS: keys } })
  const c = id()
  const p = id()
  await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, as('crm-key', 'k-2'))
  const writes = sim.stats.writes
  const other = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'platinum' } }, as('crm-key', 'k-2'))
  t.equal(other.status, 422)
  t.equal(other.body.code, 'IDEMPOTENCY_KEY_REUSED')
  const elsewhere = await post(`/participants/${c}/${id()}/data`, { attributes: { tier: 'gold' } }, as('crm-key', 'k-2'))
  t.equal(elsewhere.body.code, 'IDEMPOTENCY_KEY_REUSED', 'the same body to another participant is a different request')
  t.equal(sim.stats.writes, writes)
})

t.test('a repeat that arrives while the first is in flight waits for it and gets its answer', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 300 }, env: { API_KEYS: keys } })
  const c = id()
  const body = { attributes: { tier: 'gold' } }
  const [a, b, d] = await Promise.all([0, 1, 2].map(() => post(`/conversations/${c}/data`, body, as('crm-key', 'burst-1'))))
  t.same([a!.status, b!.status, d!.status], [200, 200, 200])
  t.same(b!.body, a!.body)
  t.same(d!.body, a!.body)
  t.equal([a, b, d].filter((x) => x!.headers['idempotent-replayed'] === 'true').length, 2, 'two were replays')
  t.equal(sim.stats.writes, 1, 'one write in all')
})

t.test('a first attempt that failed frees the key, so the retry is carried out', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 1200 }, env: { API_KEYS: keys } })
  const c = id()
  const p = id()
  const blocker = post(`/participants/${c}/${p}/data`, { attributes: { first: '1' } }, as('crm-key'))
  await until(() => sim.stats.writesInFlight, (n) => n === 1, { what: "the blocker's write out" })
  const failed = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, { ...as('crm-key', 'k-3'), 'x-request-timeout-ms': '500' })
  t.equal(failed.body.code, 'DEADLINE_EXCEEDED')
  await blocker
  const retry = await post(`/participants/${c}/${p}/data`, { attributes: { tier: 'gold' } }, as('crm-key', 'k-3'))
  t.equal(retry.status, 200)
  t.equal(retry.headers['idempotent-replayed'], undefined, 'carried out, not replayed')
  t.equal(sim.attributes(c, p)?.tier, 'gold')
})

t.test('a bad Idempotency-Key is a 400 naming the header', async (t) => {
  const { post } = await startStack(t)
  const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, { 'idempotency-key': 'has space' })
  t.equal(a.status, 400)
  t.equal(a.body.code, 'INVALID_HEADER')
  t.same(a.body.errors[0], { in: 'header', path: '/idempotency-key', message: 'must be 1 to 255 visible ASCII characters' })
})

t.test('a repeat whose deadline comes before the first finishes is answered by its deadline', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 2000 }, env: { API_KEYS: keys } })
  const path = `/participants/${id()}/${id()}/data`
  let firstAnswered = false
  const first = post(path, { attributes: { tier: 'gold' } }, as('crm-key', 'slow-1')).finally(() => { firstAnswered = true })
  await until(() => sim.stats.writesInFlight, (n) => n === 1, { what: "the first one's write out" })
  const repeat = await post(path, { attributes: { tier: 'gold' } }, { ...as('crm-key', 'slow-1'), 'x-request-timeout-ms': '700' })
  // By order, not by a stopwatch: the repeat did not wait for the first to finish.
  t.notOk(firstAnswered, 'answered by its own deadline, while the first was still being written')
  t.equal(repeat.status, 409)
  t.equal(repeat.body.code, 'IDEMPOTENCY_KEY_IN_FLIGHT')
  t.equal(repeat.headers['retry-after'], '1')
  t.equal((await first).status, 200)
  const later = await post(path, { attributes: { tier: 'gold' } }, as('crm-key', 'slow-1'))
  t.equal(later.headers['idempotent-replayed'], 'true', 'asked again, it gets the first answer')
})
