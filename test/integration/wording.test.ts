import t from 'tap'
import { ConfigError, loadConfig, VARIABLES } from '../../src/config.ts'
import { loadSimConfig } from '../../src/sim/env.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { id, startStack } from '../helpers/stack.ts'

// Every refusal a caller or an operator reads is in our words: what the field must be, never
// the validation library's description of itself ("Invalid input: expected number, received NaN").

const ZOD = /Invalid (input|option|URL|string|key|element)|expected \w+, received|received NaN|Too (big|small)|Unrecognized keys?|expected (one of )?"|<=|>=/

const KEY = 'crm-key-0123456789abcdef01234'

t.test('API answers: every validation detail and errors[] message is a sentence of ours', async (t) => {
  const { app } = await startStack(t, { env: { API_KEYS: `crm:${KEY}` } })
  const auth = { authorization: `Bearer ${KEY}` }
  const c = id()
  const p = id()
  const json = { ...auth, 'content-type': 'application/json' }
  const requests: Array<{ method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: string }> = [
    { method: 'GET', url: '/updates?state=bogus' },
    { method: 'GET', url: '/updates?state=failed&limit=abc' },
    { method: 'GET', url: '/updates?state=failed&limit=0' },
    { method: 'GET', url: '/updates?state=failed&offset=1.5' },
    { method: 'GET', url: '/updates?limit=5' },
    { method: 'GET', url: `/updates/${'x'.repeat(101)}` },
    { method: 'GET', url: `/participants/${c}/${p}/data?keys=,` },
    { method: 'GET', url: '/genesys/data-action?attributes=tier&format=yaml&credentialType=none&timeoutSeconds=abc&conversationOnly=maybe&baseUrl=nope' },
    { method: 'POST', url: `/participants/${c}/${p}/data?dryRun=maybe`, headers: json, payload: '{"attributes":{"a":"b"}}' },
    { method: 'POST', url: `/participants/${c}/${p}/data`, headers: { ...json, 'x-request-timeout-ms': 'soon', 'idempotency-key': 'x'.repeat(300) }, payload: '{"attributes":{"a":"b"}}' },
    { method: 'POST', url: `/participants/${c}/${p}/data`, headers: json, payload: '{"attributes":"a=b","participantId":7}' },
    { method: 'POST', url: `/participants/${c}/${p}/data`, headers: json, payload: '[]' },
    { method: 'POST', url: `/participants/${c}/${p}/data`, headers: json, payload: 'null' },
    { method: 'POST', url: `/conversations/${c}/data`, headers: json, payload: '{"attributes":{"a":"b"},"purpose":7}' },
    { method: 'POST', url: `/conversations/${c}/data`, headers: json, payload: '{"data":{"a":"b"},"participantId":"nope"}' },
  ]
  for (const r of requests) {
    const res = await app.inject({ ...r, headers: { ...auth, ...r.headers } })
    const problem = res.json() as { detail: string; errors?: Array<{ message: string }> }
    t.equal(res.statusCode, 400, `${r.method} ${r.url}: ${problem.detail}`)
    for (const text of [problem.detail, ...(problem.errors ?? []).map((e) => e.message)]) t.notMatch(text, ZOD, `${r.method} ${r.url.slice(0, 80)}: ${text}`)
  }

  // The issue's own example, word for word what a caller reads.
  const state = (await app.inject({ method: 'GET', url: '/updates?state=bogus', headers: auth })).json()
  t.match(state, { code: 'INVALID_QUERY', detail: /^query parameter state: must be failed: only failed updates are listed/, errors: [{ in: 'query', path: '/state' }] })
  const type = (await app.inject({ method: 'POST', url: `/conversations/${c}/data`, headers: json, payload: '{"attributes":{"a":"b"},"purpose":7}' })).json()
  t.match(type, { detail: '/purpose: must be a string, not a number' })
  const dryRun = (await app.inject({ method: 'POST', url: `/participants/${c}/${p}/data?dryRun=maybe`, headers: json, payload: '{"attributes":{"a":"b"}}' })).json()
  t.match(dryRun, { detail: 'query parameter dryRun: must be true or false' })
})

t.test('the simulator\'s own routes answer in our words too', async (t) => {
  const sim = buildSimulator()
  t.teardown(() => sim.app.close())
  for (const body of [{ participants: [] }, { participants: [{ purpose: 7 }] }, { id: 'nope' }, { extra: 1 }]) {
    const res = await sim.app.inject({ method: 'POST', url: '/__sim/conversations', payload: body })
    t.equal(res.statusCode, 400)
    t.notMatch(res.json().message, ZOD, res.json().message)
  }
})

t.test('configuration: each bad variable is told what it must be', async (t) => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env)
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems
    }
  }
  t.same(problems({ PORT: 'abc' }), ['PORT: must be a whole number from 0 to 65535'])
  t.same(problems({ PORT: '70000' }), ['PORT: must be a whole number from 0 to 65535'])
  t.same(problems({ LOG_LEVEL: 'loud' }), ['LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent'])
  // Every variable the service reads, given something no variable accepts.
  for (const name of VARIABLES) {
    for (const value of ['%%', '1.5', '-1', 'x'.repeat(300)]) {
      for (const problem of problems({ [name]: value })) t.notMatch(problem, ZOD, `${name}=${value.slice(0, 20)}: ${problem}`)
    }
  }
  const sim = loadSimConfig({ SIM_PORT: 'abc', SIM_LOG_LEVEL: 'loud', SIM_STRICT: 'yes', SIM_SEMANTICS: 'both', SIM_TOKEN_TTL_SECONDS: '0', SIM_FAULT_DROP_RATE: '2', SIM_CLIENT_ID: '' })
  t.ok('problems' in sim)
  for (const problem of 'problems' in sim ? sim.problems : []) t.notMatch(problem, ZOD, problem)
  t.ok('problems' in sim && sim.problems.includes('SIM_PORT: must be a number'), JSON.stringify(sim))
})
