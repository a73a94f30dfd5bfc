// `npm run sim`: the Genesys simulator on its own, for docker-compose, benchmarks and poking at.
import { simEnv } from './env.js'
import { buildSimulator } from './simulator.js'

const env = simEnv.safeParse(process.env)

if (!env.success) {
  for (const i of env.error.issues) console.error(`invalid simulator configuration: ${i.path.join('.')}: ${i.message}`)
  process.exit(1)
}
const e = env.data
const sim = buildSimulator({
  clientId: e.SIM_CLIENT_ID,
  clientSecret: e.SIM_CLIENT_SECRET,
  semantics: e.SIM_SEMANTICS,
  writeMs: e.SIM_WRITE_MS,
  tokenTtlSeconds: e.SIM_TOKEN_TTL_SECONDS,
  strict: e.SIM_STRICT === '1',
  logger: { level: e.SIM_LOG_LEVEL },
  faults: {
    seed: e.SIM_SEED,
    conflictRate: e.SIM_FAULT_CONFLICT_RATE,
    rateLimitRate: e.SIM_FAULT_RATE_LIMIT_RATE,
    serverErrorRate: e.SIM_FAULT_SERVER_ERROR_RATE,
    dropRate: e.SIM_FAULT_DROP_RATE,
    latencyMs: e.SIM_LATENCY_MS,
  },
  rateLimit: e.SIM_RATE_LIMIT_PER_MINUTE === undefined ? undefined : { requests: e.SIM_RATE_LIMIT_PER_MINUTE },
})
await sim.app.listen({ port: e.SIM_PORT, host: e.SIM_HOST })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void sim.app.close())
