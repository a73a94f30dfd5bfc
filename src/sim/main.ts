// `npm run sim`: the Genesys simulator on its own, for docker-compose, benchmarks and poking at.
import { z } from 'zod'
import { buildSimulator, SANDBOX_CLIENT } from './simulator.js'

const env = z
  .object({
    SIM_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    SIM_HOST: z.string().default('127.0.0.1'),
    SIM_CLIENT_ID: z.string().min(1).default(SANDBOX_CLIENT.id),
    SIM_CLIENT_SECRET: z.string().min(1).default(SANDBOX_CLIENT.secret),
    SIM_SEMANTICS: z.enum(['merge', 'replace']).default('merge'),
    SIM_WRITE_MS: z.coerce.number().int().min(0).default(0),
    SIM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).default(86_400),
    SIM_STRICT: z.enum(['0', '1']).default('0'),
  })
  .safeParse(process.env)

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
  logger: true,
})
await sim.app.listen({ port: e.SIM_PORT, host: e.SIM_HOST })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void sim.app.close())
