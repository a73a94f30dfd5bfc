import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { id, startStack } from '../helpers/stack.ts'

// Issue 33, item 8: one key cannot starve the others' asynchronous updates. Genesys fails every
// request here, so every accepted update stays waiting (retrying) for the whole test.

const KEYS = `keys:
  - name: crm
    key: "crm-key-0123456789abcdef"
    asyncBacklog: 2
  - name: sync
    key: "sync-key-0123456789abcdef"
  - name: flow
    key: "flow-key-0123456789abcdef"
`
const as = (key: string) => ({ 'x-api-key': `${key}-key-0123456789abcdef`, prefer: 'respond-async' })

t.test('one key flooding API_KEYS\' shared backlog leaves room for another', async (t) => {
  const stack = await startStack(t, { sim: { faults: { serverErrorRate: 1 } }, env: { API_KEYS: 'crm:crm-key-0123456789abcdef,flow:flow-key-0123456789abcdef', ASYNC_MAX_BACKLOG: '4' } })
  const post = (key: string) => stack.post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, as(key))
  const flood = []
  for (let i = 0; i < 4; i++) flood.push((await post('crm')).status)
  t.same(flood, [202, 202, 503, 503], 'crm has half of the backlog of 4, and no more')
  t.equal((await post('flow')).status, 202, 'flow is accepted while crm is refused (it was 503 OVERLOADED for everyone)')
})

t.test('a key over its share of the backlog is refused while the others are still accepted', async (t) => {
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, KEYS)
  // ASYNC_MAX_BACKLOG 6: each key without asyncBacklog may have 3 waiting (half), crm 2.
  const stack = await startStack(t, { sim: { faults: { serverErrorRate: 1 } }, env: { API_KEYS_FILE: file, ASYNC_MAX_BACKLOG: '6' } })
  const post = (key: string) => stack.post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } }, as(key))

  for (let i = 0; i < 2; i++) t.equal((await post('crm')).status, 202, `crm ${i + 1}: accepted`)
  const over = await post('crm')
  t.equal(over.status, 503, 'crm past its asyncBacklog of 2: refused')
  t.equal(over.body.code, 'OVERLOADED')
  t.equal(over.headers['retry-after'], '1')
  t.match(over.body.detail, 'API key "crm"')

  for (let i = 0; i < 3; i++) t.equal((await post('sync')).status, 202, `sync ${i + 1}: accepted`)
  t.equal((await post('sync')).body.code, 'OVERLOADED', 'sync past the default share (half of ASYNC_MAX_BACKLOG): refused')

  t.equal((await post('flow')).status, 202, 'flow is still accepted while both are refused')
  t.equal((await post('crm')).status, 503, 'and crm still refused')
})

t.test('the share is set by ASYNC_MAX_BACKLOG_PER_KEY, or per key in the keys file, and checked at start-up', async (t) => {
  t.equal(loadConfig({}).delivery.maxBacklogPerKey, 50_000, 'default: half of ASYNC_MAX_BACKLOG')
  t.equal(loadConfig({ ASYNC_MAX_BACKLOG_PER_KEY: '10' }).delivery.maxBacklogPerKey, 10)
  t.throws(() => loadConfig({ ASYNC_MAX_BACKLOG_PER_KEY: '0' }), ConfigError)
  const file = join(t.testdir(), 'keys.yaml')
  writeFileSync(file, KEYS.replace('asyncBacklog: 2', 'asyncBacklog: many'))
  const refused = (() => { try { loadConfig({ API_KEYS_FILE: file }) } catch (err) { return err as ConfigError } })()
  t.match(refused?.problems, [/entry 1 \("crm"\): asyncBacklog: must be a whole number/])
  writeFileSync(file, KEYS)
  t.equal(loadConfig({ API_KEYS_FILE: file }).apiKeys.find((k) => k.name === 'crm')?.asyncBacklog, 2)
})
