import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { id, send, startStack } from '../helpers/stack.ts'

const ADMIN = 'admin-key-0123456789abcdef'
const CRM = 'crm-key-0123456789abcdef'
const REPORTER = 'reporter-key-0123456789abcdef'
const FLOW = 'flow-key-0123456789abcdef'
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

// Four kinds of key: one that may do everything, a CRM that may only write crm_* (synchronously
// or not), a reporter that may only read, and a flow whose key the file holds only as a hash.
const KEYS_FILE = `keys:
  - name: admin
    key: "${ADMIN}"
  - name: crm
    key: "${CRM}"
    priority: bulk
    may: [write, async]
    attributes: ["crm_*"]
  - name: reporter
    key: "${REPORTER}"
    may: [read]
    attributes: ["crm_*", "tier"]
  - name: flow
    keySha256: "${sha256(FLOW)}"
    may: [write, read, console]
    attributes: ["flow_?", "tier"]
`

const as = (key: string) => ({ authorization: `Bearer ${key}` })

t.test('each key does only what its scope gives it, against the simulator', async (t) => {
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, KEYS_FILE)
  const { sim, url } = await startStack(t, { env: { API_KEYS_FILE: file } })
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { crm_case: '1', tier: 'gold', flow_a: 'x', secret_note: 'personal' } }] })
  const participant = `${url}/participants/${c}/${p}/data`
  const conversation = `${url}/conversations/${c}/data`
  const held = () => sim.attributes(c, p)
  const before = held()

  t.test('a write naming attributes outside the patterns writes nothing, naming every one', async (t) => {
    const bodies = [{ attributes: { crm_case: '2', tier: 'platinum', 'x/y': 'z' } }, { data: { crm_case: '2', tier: 'platinum', 'x/y': 'z' } }]
    for (const body of bodies) {
      const field = Object.keys(body)[0]
      for (const [where, headers] of [[participant, as(CRM)], [conversation, as(CRM)], [participant, { ...as(CRM), prefer: 'respond-async' }]] as const) {
        const a = await send(where, 'POST', body, headers)
        t.equal(a.status, 403, `${where.slice(url.length, url.length + 14)} ${JSON.stringify(headers).includes('async') ? 'async' : ''}`)
        t.equal(a.body.code, 'ATTRIBUTE_NOT_ALLOWED')
        t.same(a.body.errors.map((e: { path: string }) => e.path), [`/${field}/tier`, `/${field}/x~1y`], 'every name outside crm_*, and only those')
      }
    }
    t.same(held(), before, 'nothing written')
    t.equal(sim.stats.writes, 0)
  })

  t.test('within its patterns, the CRM writes, and its answer shows only what it may see', async (t) => {
    const a = await send(participant, 'POST', { attributes: { crm_case: '2' } }, as(CRM))
    t.equal(a.status, 200)
    t.same(a.body.attributes, { crm_case: '2' }, 'not tier, flow_a or secret_note')
    t.equal(held()!.crm_case, '2')
    t.equal(held()!.secret_note, 'personal', 'the rest kept')
    const queued = await send(conversation, 'POST', { attributes: { crm_case: '2' } }, { ...as(CRM), prefer: 'respond-async' })
    t.equal(queued.status, 202, 'asynchronously too')
    const status = await send(`${url}/updates/${queued.body.id}`, 'GET', undefined, as(CRM))
    t.equal(status.status, 200, 'and it may follow its update')
  })

  t.test('an operation outside `may` is 403 OPERATION_NOT_ALLOWED', async (t) => {
    const cases: Array<[string, string, 'GET' | 'POST', unknown, Record<string, string>]> = [
      ['the CRM reads', participant, 'GET', undefined, as(CRM)],
      ['the reporter writes', participant, 'POST', { attributes: { tier: 'x' } }, as(REPORTER)],
      ['the reporter writes asynchronously', conversation, 'POST', { attributes: { tier: 'x' } }, { ...as(REPORTER), prefer: 'respond-async' }],
      ['the reporter asks for updates', `${url}/updates?state=failed`, 'GET', undefined, as(REPORTER)],
      ['the flow writes asynchronously', participant, 'POST', { attributes: { tier: 'x' } }, { ...as(FLOW), prefer: 'respond-async' }],
    ]
    for (const [name, where, method, body, headers] of cases) {
      const a = await send(where, method, body, headers)
      t.equal(a.status, 403, name)
      t.equal(a.body.code, 'OPERATION_NOT_ALLOWED', name)
    }
    t.match((await send(participant, 'POST', { attributes: { crm_x: '1' } }, as(REPORTER))).body.detail, /may not write; it may read/)
    t.equal(held()!.tier, 'gold', 'nothing written')
  })

  t.test('a read answers only what the key may see', async (t) => {
    t.same((await send(participant, 'GET', undefined, as(REPORTER))).body.attributes, { crm_case: '2', tier: 'gold' })
    t.same((await send(`${participant}?keys=secret_note,tier`, 'GET', undefined, as(REPORTER))).body.attributes, { tier: 'gold' }, 'asking by name is no way around it')
    t.same((await send(participant, 'GET', undefined, as(FLOW))).body.attributes, { flow_a: 'x', tier: 'gold' }, 'flow_? matches one character')
    t.same(Object.keys((await send(participant, 'GET', undefined, as(ADMIN))).body.attributes).sort(), ['crm_case', 'flow_a', 'secret_note', 'tier'], 'admin sees all')
  })

  t.test('the hashed key works as the key itself does; its hash does not', async (t) => {
    const a = await send(participant, 'POST', { attributes: { flow_b: 'y', tier: 'silver' } }, as(FLOW))
    t.equal(a.status, 200)
    t.equal(held()!.flow_b, 'y')
    t.equal((await send(participant, 'GET', undefined, as(sha256(FLOW)))).status, 401, 'the hash in the file is no key')
  })

  t.test('the admin key may do everything', async (t) => {
    t.equal((await send(participant, 'POST', { attributes: { secret_note: 'changed' } }, as(ADMIN))).status, 200)
    t.equal((await send(`${url}/updates?state=failed`, 'GET', undefined, as(ADMIN))).status, 200)
  })
})

t.test('the console shows a key its scope, and only the attributes it may see', async (t) => {
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, KEYS_FILE)
  const { sim, app } = await startStack(t, { env: { API_KEYS_FILE: file, CONSOLE: '1' } })
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { tier: 'gold', secret_note: 'personal' } }] })
  const signIn = (key: string) => app.inject({ method: 'POST', url: '/console/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `key=${key}&next=/console` })

  const refused = await signIn(REPORTER)
  t.equal(refused.statusCode, 403, 'a key without console may not sign in')
  t.match(refused.body, 'may not use the console; it may read')

  const ok = await signIn(FLOW)
  t.equal(ok.statusCode, 303, 'the hashed key signs in with the key itself')
  const cookie = (ok.headers['set-cookie'] as string).split(';')[0]!
  const page = await app.inject({ url: `/console/conversations/${c}`, headers: { cookie } })
  t.match(page.body, 'flow (may write, read, console; attributes flow_?, tier)', 'the page says what the key may do')
  t.notMatch(page.body, 'secret_note', 'an attribute the key may not see is not shown')
  const state = (await app.inject({ url: `/console/conversations/${c}/state`, headers: { cookie } })).json()
  t.same(state.participants[0].attributes, { tier: 'gold' }, 'nor in the live state')

  const write = (attributes: object) => app.inject({ method: 'POST', url: `/console/conversations/${c}/participants/${p}/data`, headers: { cookie, 'content-type': 'application/json' }, payload: JSON.stringify({ attributes }) })
  t.equal((await write({ flow_c: '1' })).statusCode, 200, 'a console write goes through with the key')
  const outside = await write({ secret_note: 'x' })
  t.equal(outside.statusCode, 403)
  t.equal(outside.json().code, 'ATTRIBUTE_NOT_ALLOWED')
  t.equal(sim.attributes(c, p)!.secret_note, 'personal')
  for (const headers of [{ 'x-pdg-console-session': 'guessed flow' }, { authorization: 'Bearer guessed-console-credential' }]) {
    const forged = await app.inject({ method: 'GET', url: `/participants/${c}/${p}/data`, headers })
    t.equal(forged.statusCode, 401, `the console's credential is not open to callers (${Object.keys(headers)[0]})`)
  }
})

t.test('start-up refuses a bad keys file, naming the entry', async (t) => {
  const dir = t.testdir()
  const problems = (text: string, env: Record<string, string> = {}) => {
    const file = join(dir, `k${Math.random()}.yaml`)
    writeFileSync(file, text)
    try {
      loadConfig({ API_KEYS_FILE: file, ...env })
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems
    }
  }
  const entry = (fields: string) => `keys:\n  - name: ok\n    key: "${ADMIN}"\n  - name: bad\n${fields}\n`
  const cases: Array<[string, string, RegExp, Record<string, string>?]> = [
    ['the same key under two names', entry(`    key: "${ADMIN}"`), /entry 2 \("bad"\): the same key as entry "ok"/],
    ['the same key, once hashed', entry(`    keySha256: "${sha256(ADMIN).toUpperCase()}"`), /entry 2 \("bad"\): the same key as entry "ok"/],
    ['an unknown field', entry(`    key: "${CRM}"\n    scopes: [read]`), /entry 2 \("bad"\): unknown field "scopes"/],
    ['a bad pattern', entry(`    key: "${CRM}"\n    attributes: ["crm_[ab]"]`), /entry 2 \("bad"\): attributes: pattern "crm_\[ab\]" may use only \*/],
    ['an empty pattern', entry(`    key: "${CRM}"\n    attributes: [""]`), /entry 2 \("bad"\): attributes: pattern "" must be a non-empty string/],
    ['an unknown operation', entry(`    key: "${CRM}"\n    may: [write, delete]`), /entry 2 \("bad"\): may: must be a non-empty list of write, read, async, console/],
    ['a hash that is not one', entry('    keySha256: "abc"'), /entry 2 \("bad"\): keySha256: must be 64 hex digits/],
    ['both key and hash', entry(`    key: "${CRM}"\n    keySha256: "${sha256(CRM)}"`), /entry 2 \("bad"\): give one of key and keySha256/],
    ['a bad priority', entry(`    key: "${CRM}"\n    priority: urgent`), /entry 2 \("bad"\): priority: must be live or bulk/],
    ['a name twice', entry(`    key: "${CRM}"\n  - name: bad\n    key: "${FLOW}"`), /entry 3 \("bad"\): name "bad" is given to an entry before it/],
    ['not a keys file', 'keys: {}', /must be a mapping with one field, keys/],
    ['not YAML', 'keys: [\n  - {name: "a"', /not YAML or JSON at line/],
    ['a name twice in one mapping', `keys:\n  - name: a\n    key: "${CRM}"\n    key: "${FLOW}"`, /not YAML or JSON at line/],
    ['with API_KEYS too', entry(`    key: "${CRM}"`), /API_KEYS and API_KEYS_FILE: set one or the other/, { API_KEYS: 'x:y' }],
  ]
  for (const [name, text, expected, env] of cases) {
    const found = problems(text, env)
    t.ok(found.some((p) => expected.test(p)), `${name}: ${JSON.stringify(found)}`)
    t.notOk(found.some((p) => p.includes(ADMIN) || p.includes(CRM) || p.includes(FLOW)), `${name}: no key is quoted`)
  }
  t.match((() => { try { loadConfig({ API_KEYS_FILE: join(dir, 'missing.yaml') }) } catch (err) { return (err as ConfigError).problems } })(), [/API_KEYS_FILE: .*missing\.yaml: no such file/])

  const json = join(dir, 'keys.json')
  writeFileSync(json, JSON.stringify({ keys: [{ name: 'crm', keySha256: sha256(CRM), may: ['write'], attributes: ['crm_*'] }] }))
  const config = loadConfig({ API_KEYS_FILE: json, SIGNING_SECRETS: 'crm:signing-secret-0123456789' })
  t.match(config.apiKeys, [{ name: 'crm', priority: 'live', scope: { may: ['write'], attributes: ['crm_*'] }, signingSecret: 'signing-secret-0123456789' }], 'JSON works, and SIGNING_SECRETS names its keys')
  t.equal(config.apiKeys[0]!.key, undefined, 'no key is made up for a hash')
  t.same(loadConfig({ API_KEYS: `a:${CRM}` }).apiKeys[0]!.scope, undefined, 'API_KEYS keys keep doing everything')
})
