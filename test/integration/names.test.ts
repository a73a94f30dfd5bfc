import t from 'tap'
import { id, startStack } from '../helpers/stack.ts'

// Issue 33, item 5: a name that reads the same as another is the same name, or refused. Each of
// these reads as crm_id (or café, or id) and was accepted beside it.
const LOOKALIKES: Array<[string, string, string]> = [
  ['a soft hyphen', 'crm\u00ad_id', 'U+00AD'],
  ['a combining grapheme joiner', 'crm_\u034fid', 'U+034F'],
  ['an invisible function application', 'crm_id\u2061', 'U+2061'],
  ['a variation selector', 'crm_id\ufe0f', 'U+FE0F'],
  ['a tag space', 'crm_id\u{e0020}', 'U+E0020'],
  ['a Hangul filler', 'crm_id\u3164', 'U+3164'],
  ['a Hangul choseong filler', '\u115fcrm_id', 'U+115F'],
  ['a halfwidth Hangul filler', 'crm\uffa0_id', 'U+FFA0'],
  ['a Mongolian vowel separator', 'crm_id\u180e', 'U+180E'],
  ['the Arabic letter mark', 'crm_id\u061c', 'U+061C'],
  ['NFD café beside NFC café', 'cafe\u0301', 'U+0301'],
  ['a fullwidth i', 'crm_\uff49d', 'U+FF49'],
  ['a ligature', 'crm_\ufb01le', 'U+FB01'],
  ['a zero-width space (already refused)', 'crm_\u200bid', 'U+200B'],
]

t.test('a name that differs from another only by what does not show is refused, naming the character, and nothing is written', async (t) => {
  const { app, sim } = await startStack(t)
  const c = id()
  const p = id()
  const url = `/participants/${c}/${p}/data`
  const post = (attributes: Record<string, string>) => app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ attributes }) })
  t.equal((await post({ crm_id: '1', café: 'yes', id: 'x' })).statusCode, 200, 'the plain names are fine (NFC é included)')
  const writes = sim.stats.writes
  for (const [what, name, codePoint] of LOOKALIKES) {
    const res = await post({ [name]: '2' })
    t.equal(res.statusCode, 400, `${what}: refused`)
    const problem = res.json()
    t.equal(problem.code, 'INVALID_BODY')
    t.equal(problem.errors[0].path, `/attributes/${name}`)
    t.match(problem.errors[0].message, codePoint, `${what}: the message names ${codePoint}`)
  }
  t.equal(sim.stats.writes, writes, 'none of them was written')
  t.same(Object.keys(sim.attributes(c, p)!).sort(), ['café', 'crm_id', 'id'], 'the participant holds each name once')
})

t.test('values may still hold what names may not', async (t) => {
  const { app } = await startStack(t)
  const res = await app.inject({ method: 'POST', url: `/participants/${id()}/${id()}/data`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ attributes: { note: 'cafe\u0301 \u061c\u05e9\u05dc\u05d5\u05dd ｉ' } }) })
  t.equal(res.statusCode, 200)
})
