import fc from 'fast-check'
import t from 'tap'
import { Agent, request } from 'undici'
import { CATALOGUE } from '../../src/errors.ts'
import { id, send, startStack } from '../helpers/stack.ts'

// Thousands of random requests at both write routes: whatever arrives, the answer is never a
// 5xx, and every refusal is problem+json with a catalogue code. Seeded, so a failure replays.
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1500)

// Mostly well-formed, so that runs get past each check and reach the ones behind it.
const often = <T>(good: fc.Arbitrary<T>, ...bad: Array<fc.Arbitrary<T>>) =>
  fc.oneof({ arbitrary: good, weight: 4 }, ...bad.map((arbitrary) => ({ arbitrary, weight: 1 })))
const segment = often(fc.uuid(), fc.string({ maxLength: 40 }), fc.constantFrom('', '..', '%', '%zz', '%2F', 'ÄÖ', ' '))
const value = fc.oneof(
  fc.string({ maxLength: 30 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.object({ maxDepth: 1 }), fc.array(fc.integer(), { maxLength: 3 })
)
const attributes = fc.dictionary(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'a b', '')), value, { maxKeys: 8 })
const simple = fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), fc.string({ maxLength: 20 }), { minKeys: 1, maxKeys: 5 })
const body = fc.oneof(
  { arbitrary: fc.record({ attributes: simple }), weight: 4 },
  fc.record({ attributes }, { requiredKeys: [] }),
  fc.record({ data: attributes, participantId: fc.oneof(fc.uuid(), fc.string()), purpose: fc.string({ maxLength: 12 }) }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 60 }).map((s) => ({ raw: s }))
)
const headers = fc.record(
  {
    'content-type': often(fc.constant('application/json'), fc.constantFrom('text/plain', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', '')),
    'x-request-timeout-ms': fc.oneof(fc.constantFrom('100', '500', '5000', '0', '-1', '1e3', 'NaN', ''), fc.string({ maxLength: 6 })),
    'idempotency-key': fc.oneof(fc.uuid(), fc.string({ maxLength: 8 })),
    'x-api-key': often(fc.constant('good-key'), fc.string({ maxLength: 10 })),
  },
  { requiredKeys: ['content-type', 'x-api-key'] }
)
const query = often(fc.constant(''), fc.constantFrom('?dryRun=true', '?dryRun=maybe', '?dryRun=true&dryRun=false', '?x=1'))

t.test(`${RUNS} random requests: never a 5xx, always a catalogue problem`, async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'fuzz:good-key' } })
  const dispatcher = new Agent({ connections: 16 })
  t.teardown(() => dispatcher.close())
  const seen: Record<number, number> = {}
  await fc.assert(
    fc.asyncProperty(fc.boolean(), segment, segment, body, headers, query, async (byConversation, c, p, b, h, q) => {
      const path = byConversation ? `/conversations/${encodeURIComponent(c)}/data` : `/participants/${encodeURIComponent(c)}/${encodeURIComponent(p)}/data`
      const payload = typeof b === 'object' && b !== null && 'raw' in b && Object.keys(b).length === 1 ? String(b.raw) : JSON.stringify(b)
      const res = await request(url + path + q, { method: 'POST', dispatcher, headers: h as Record<string, string>, body: payload })
      const text = await res.body.text()
      seen[res.statusCode] = (seen[res.statusCode] ?? 0) + 1
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for POST ${path}${q} ${payload}: ${text}`)
      if (res.statusCode >= 400) {
        if (!String(res.headers['content-type']).startsWith('application/problem+json')) throw new Error(`not problem+json: ${res.headers['content-type']}`)
        const problem = JSON.parse(text) as { code?: string; status?: number }
        if (problem.code === undefined || !(problem.code in CATALOGUE) || problem.status !== res.statusCode) throw new Error(`bad problem: ${text}`)
      }
    }),
    { numRuns: RUNS, seed: 20261121, endOnFailure: true }
  )
  t.comment(`statuses: ${JSON.stringify(seen)}`)
  t.ok((seen[200] ?? 0) > 0 && (seen[400] ?? 0) > 0 && (seen[401] ?? 0) > 0, 'the runs reached success, validation and auth')
})

t.test('well-formed random updates are all written as sent', async (t) => {
  const { sim, post } = await startStack(t)
  const key = fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !/[\s\p{Cc}]/u.test(k) && !['__proto__', 'constructor', 'prototype'].includes(k))
  await fc.assert(
    fc.asyncProperty(fc.dictionary(key, fc.string({ maxLength: 50 }), { minKeys: 1, maxKeys: 10 }), async (attrs) => {
      const c = id()
      const p = id()
      const a = await post(`/participants/${c}/${p}/data`, { attributes: attrs })
      if (a.status !== 200) throw new Error(`${a.status} ${JSON.stringify(a.body)}`)
      const stored = sim.attributes(c, p)
      for (const [k, v] of Object.entries(attrs)) if (stored?.[k] !== v) throw new Error(`${k} not stored as sent`)
    }),
    { numRuns: 300, seed: 7 }
  )
  t.pass('300 random maps stored exactly')
})

t.test('random numbers, however written, are stored as written', async (t) => {
  const { sim, url } = await startStack(t)
  const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`))
  // JSON's number grammar: -? int frac? exp?, with no leading zero on the integer part.
  const int = fc.oneof(fc.constant('0'), fc.tuple(fc.stringMatching(/^[1-9]$/), digits(0, 30)).map(([a, b]) => a + b))
  const number = fc
    .tuple(fc.constantFrom('', '-'), int, fc.option(digits(1, 20).map((d) => `.${d}`), { nil: '' }), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 3)).map((p) => p.join('')), { nil: '' }))
    .map((p) => p.join(''))
  await fc.assert(
    fc.asyncProperty(fc.array(number, { minLength: 1, maxLength: 8 }), async (numbers) => {
      const c = id()
      const p = id()
      const body = `{"attributes":{${numbers.map((n, i) => `"n${i}":${n}`).join(',')}}}`
      const a = await send(`${url}/participants/${c}/${p}/data`, 'POST', body)
      if (a.status !== 200) throw new Error(`${a.status} for ${body}: ${JSON.stringify(a.body)}`)
      const stored = sim.attributes(c, p)
      numbers.forEach((n, i) => {
        if (stored?.[`n${i}`] !== n || a.body.attributes[`n${i}`] !== n) throw new Error(`${n} became ${stored?.[`n${i}`]}`)
      })
    }),
    { numRuns: 200, seed: 13 }
  )
  t.pass('200 bodies of numbers stored digit for digit')
})
