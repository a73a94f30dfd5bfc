import t from 'tap'
import { loadSimConfig, simEnv } from '../../src/sim/env.ts'
import { buildSimulator } from '../../src/sim/simulator.ts'

// The SIM_* variables go through the same option rules as buildSimulator(): one schema, so a
// value refused in code is refused in the environment too, under the variable's name.

const problems = (env: Record<string, string>) => {
  const loaded = loadSimConfig(env)
  return 'problems' in loaded ? loaded.problems : []
}

t.test('no variables: the defaults, which buildSimulator accepts', async (t) => {
  const loaded = loadSimConfig({})
  t.ok('config' in loaded)
  if (!('config' in loaded)) return
  // Reads lag writes by default, as Genesys's do.
  t.same(loaded.config, { port: 8787, host: '127.0.0.1', options: { logger: { level: 'info' }, readLagMs: 300 } })
  t.doesNotThrow(() => buildSimulator({ ...loaded.config.options, logger: false }))
})

t.test('every variable reaches its option', async (t) => {
  const env = {
    SIM_PORT: '0',
    SIM_HOST: '0.0.0.0',
    SIM_LOG_LEVEL: 'warn',
    SIM_CLIENT_ID: 'id',
    SIM_CLIENT_SECRET: 'secret',
    SIM_SEMANTICS: 'replace',
    SIM_WRITE_MS: '20',
    SIM_READ_LAG_MS: '0',
    SIM_TOKEN_TTL_SECONDS: '60',
    SIM_STRICT: '1',
    SIM_SEED: '42',
    SIM_FAULT_CONFLICT_RATE: '0.1',
    SIM_FAULT_RATE_LIMIT_RATE: '0.2',
    SIM_FAULT_SERVER_ERROR_RATE: '0.3',
    SIM_FAULT_DROP_RATE: '0.4',
    SIM_LATENCY_MS: '5-40',
    SIM_RATE_LIMIT_PER_MINUTE: '300',
    SIM_LIMITS_API: 'forbidden',
  }
  t.same(Object.keys(env).sort(), Object.keys(simEnv.shape).sort(), 'this test sets every variable there is')
  t.same(loadSimConfig(env), {
    config: {
      port: 0,
      host: '0.0.0.0',
      options: {
        logger: { level: 'warn' },
        clientId: 'id',
        clientSecret: 'secret',
        semantics: 'replace',
        writeMs: 20,
        readLagMs: 0,
        tokenTtlSeconds: 60,
        strict: true,
        faults: { seed: 42, conflictRate: 0.1, rateLimitRate: 0.2, serverErrorRate: 0.3, dropRate: 0.4, latencyMs: { min: 5, max: 40 } },
        rateLimit: { requests: 300 },
        limitsApi: 'forbidden',
      },
    },
  })
})

t.test('bad values are refused, every one at once, each under its variable', async (t) => {
  const found = problems({
    SIM_SEMANTICS: 'sideways',
    SIM_TOKEN_TTL_SECONDS: '0',
    SIM_WRITE_MS: '-1',
    SIM_LATENCY_MS: '40-5',
    SIM_RATE_LIMIT_PER_MINUTE: '0',
    SIM_FAULT_CONFLICT_RATE: '0.6',
    SIM_FAULT_DROP_RATE: '0.6',
  })
  for (const name of ['SIM_SEMANTICS', 'SIM_TOKEN_TTL_SECONDS', 'SIM_WRITE_MS', 'SIM_LATENCY_MS', 'SIM_RATE_LIMIT_PER_MINUTE']) {
    t.equal(found.filter((p) => p.startsWith(`${name}: `)).length, 1, `${name} named once`)
  }
  t.ok(
    found.some((p) => /^SIM_FAULT_CONFLICT_RATE \+ SIM_FAULT_RATE_LIMIT_RATE \+ SIM_FAULT_SERVER_ERROR_RATE \+ SIM_FAULT_DROP_RATE: .*must be at most 1/.test(p)),
    'the rates together name all four variables'
  )
  t.equal(found.length, 6, found.join('\n'))
  t.match(problems({ SIM_FAULT_DROP_RATE: '1.5' }), [/^SIM_FAULT_DROP_RATE: /])
  t.match(problems({ SIM_SEED: '1.5' }), [/^SIM_SEED: /])
  t.match(problems({ SIM_STRICT: 'yes' }), [/^SIM_STRICT: /])
  t.match(problems({ SIM_LATENCY_MS: 'fast' }), [/^SIM_LATENCY_MS: expected "min-max"/])
  t.match(problems({ SIM_PORT: '70000' }), [/^SIM_PORT: /])
  const named = problems({ SIM_STRICT: 'yes', SIM_FAULT_DROP_RATE: 'x', SIM_TOKEN_TTL_SECONDS: '0' }).map((p) => p.slice(0, p.indexOf(':')))
  t.same(named, ['SIM_STRICT', 'SIM_FAULT_DROP_RATE', 'SIM_TOKEN_TTL_SECONDS'], 'a badly written variable does not hide a bad value')
})

t.test('the same rule refuses the same value in code and in the environment', async (t) => {
  const pairs: Array<[Parameters<typeof buildSimulator>[0], Record<string, string>]> = [
    [{ tokenTtlSeconds: 0 }, { SIM_TOKEN_TTL_SECONDS: '0' }],
    [{ writeMs: -1 }, { SIM_WRITE_MS: '-1' }],
    [{ rateLimit: { requests: 0 } }, { SIM_RATE_LIMIT_PER_MINUTE: '0' }],
    [{ faults: { rateLimitRate: 1.5 } }, { SIM_FAULT_RATE_LIMIT_RATE: '1.5' }],
  ]
  for (const [options, env] of pairs) {
    let thrown = ''
    try {
      buildSimulator(options)
    } catch (err) {
      thrown = (err as Error).message
    }
    const [problem] = problems(env)
    t.ok(thrown !== '' && problem !== undefined, `${JSON.stringify(options)} and ${JSON.stringify(env)} are both refused`)
    t.equal(problem?.replace(/^[A-Z_]+: /, ''), thrown.replace(/^invalid simulator options: [\w.]+: /, ''), 'with the same words')
  }
})
