import t from 'tap'
import { attributeMap, genesysId, updateBody } from '../../src/attributes/body.ts'

const limits = { maxAttributes: 3, maxValueLength: 5 }

/** The issues zod reports, as path → message. */
type Issue = { path: PropertyKey[]; message: string; code: string; keys?: string[] }
function issues (schema: { safeParse(v: unknown): { success: boolean; error?: { issues: Issue[] } } }, value: unknown) {
  const r = schema.safeParse(value)
  return r.success ? [] : r.error!.issues.map((i) => [i.path.join('/'), i.code === 'unrecognized_keys' ? `unknown ${i.keys!.join(',')}` : i.message])
}

t.test('attribute map: values normalized to what Genesys stores', async (t) => {
  const map = attributeMap(limits)
  t.same(map.parse({ s: 'text', n: 42, b: false }), { s: 'text', n: '42', b: 'false' })
  t.same(map.parse({ gone: null, f: 1.5 }), { gone: '', f: '1.5' }, 'null clears the key')
  const exact = attributeMap({ ...limits, maxValueLength: 20 })
  t.same(exact.parse({ n: '98765432109876543210' }), { n: '98765432109876543210' }, 'a number the parser kept as text stays as it is')
  t.same(issues(map, { n: '98765432109876543210' }), [['n', 'value is 20 characters (Unicode code points) long; at most 5']], 'and counts as text against the limit')
  t.equal(Object.getPrototypeOf(map.parse({ a: 'b' })), Object.prototype, 'a plain object')
})

t.test('attribute map: refusals name the key, never the value', async (t) => {
  const map = attributeMap(limits)
  t.same(issues(map, 'a=b'), [['', 'must be an object mapping attribute names to values']])
  t.same(issues(map, ['a']), [['', 'must be an object mapping attribute names to values']])
  t.same(issues(map, null), [['', 'must be an object mapping attribute names to values']])
  t.same(issues(map, {}), [['', 'must hold at least one attribute']])
  t.same(issues(map, { a: '1', b: '2', c: '3', d: '4' }), [['', 'holds 4 attributes; at most 3 per request']])
  t.same(issues(map, { long: 'SECRET' }), [['long', 'value is 6 characters (Unicode code points) long; at most 5']])
  t.same(issues(map, { o: { SECRET: 1 } }), [['o', 'value is an object; values must be strings, numbers, booleans or null']])
  t.same(issues(map, { l: ['SECRET'] }), [['l', 'value is an array; values must be strings, numbers, booleans or null']])
  t.same(issues(map, { '': 'x' }), [['', 'attribute name is empty']])
  t.same(issues(map, { ['k'.repeat(257)]: 'x' }), [['k'.repeat(257), 'attribute name is 257 characters (Unicode code points) long; at most 256']])
  t.same(issues(map, { 'a b': 'x' }), [['a b', 'attribute name contains whitespace or a control character']])
  t.same(issues(map, { 'a\u0007': 'x' }), [['a\u0007', 'attribute name contains whitespace or a control character']])
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    t.same(issues(map, JSON.parse(`{"${key}":"x"}`)), [[key, `attribute name "${key}" is reserved`]], key)
  }
  t.same(issues(map, { a: {}, 'b c': 'x' }).length, 2, 'every problem at once')
})

t.test('update body: the accepted shapes', async (t) => {
  const body = updateBody(limits)
  t.same(body.parse({ attributes: { a: 1 } }), { attributes: { a: '1' }, field: 'attributes', participantId: undefined, purpose: undefined })
  t.same(body.parse({ data: { a: 'x' } }).attributes, { a: 'x' }, '"data" for CRMs that send it')
  t.equal(body.parse({ data: { a: 'x' } }).field, 'data', 'and which member it came in, for pointers into the body')
  const id = '3F2C9A4E-0B1D-4C5E-9F6A-7B8C9D0E1F2A'
  t.equal(body.parse({ attributes: { a: 'x' }, participantId: id }).participantId, id.toLowerCase(), 'ids in Genesys form')
  const byPurpose = updateBody(limits, { purpose: true })
  t.equal(byPurpose.parse({ attributes: { a: 'x' }, purpose: 'Agent' }).purpose, 'agent', 'purposes in lower case')
})

t.test('update body: refusals', async (t) => {
  const body = updateBody(limits)
  const byPurpose = updateBody(limits, { purpose: true })
  t.same(issues(body, {}), [['attributes', 'required: an object of attribute names to values']])
  t.same(issues(body, { attributes: { a: 'x' }, data: { b: 'y' } }), [['data', 'send either "attributes" or "data", not both']])
  t.same(issues(body, { atributes: { a: 'x' } }), [
    ['', 'unknown atributes'],
    ['attributes', 'required: an object of attribute names to values'],
  ], 'a typo is refused, not ignored')
  t.same(issues(body, { attributes: { a: 'x' }, purpose: 'agent' }), [['', 'unknown purpose']], 'purpose only where the route takes it')
  t.match(issues(body, { attributes: { a: 'x' }, participantId: 'nope' }), [['participantId', /must be a Genesys id/]])
  t.match(issues(byPurpose, { attributes: { a: 'x' }, purpose: 'not a purpose' }), [['purpose', /must be a participant purpose/]])
  t.same(issues(byPurpose, { attributes: { a: 'x' }, purpose: 'agent', participantId: '3f2c9a4e-0b1d-4c5e-9f6a-7b8c9d0e1f2a' }), [
    ['purpose', 'send either "purpose" or "participantId", not both'],
  ])
  t.same(issues(body, { attributes: { a: {} } }), [['attributes/a', 'value is an object; values must be strings, numbers, booleans or null']])
})

t.test('genesys ids', async (t) => {
  t.equal(genesysId.parse('3F2C9A4E-0B1D-4C5E-9F6A-7B8C9D0E1F2A'), '3f2c9a4e-0b1d-4c5e-9f6a-7b8c9d0e1f2a')
  for (const bad of ['', 'nope', '3f2c9a4e0b1d4c5e9f6a7b8c9d0e1f2a', '3f2c9a4e-0b1d-4c5e-9f6a-7b8c9d0e1f2g', ' 3f2c9a4e-0b1d-4c5e-9f6a-7b8c9d0e1f2a']) {
    t.notOk(genesysId.safeParse(bad).success, JSON.stringify(bad))
  }
})
