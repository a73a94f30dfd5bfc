// `npm run sim`: the Genesys simulator on its own, for docker-compose, benchmarks and poking at.
import { stdoutLog } from '../observability/index.ts'
import { loadSimConfig } from './env.ts'
import { buildSimulator } from './simulator.ts'

const loaded = loadSimConfig(process.env)
if ('problems' in loaded) {
  for (const problem of loaded.problems) console.error(`invalid simulator configuration: ${problem}`)
  process.exit(1)
}
const { port, host, options } = loaded.config
// Its own log, like the service's, never keeps it from exiting once the reader has gone.
const logger = typeof options.logger === 'object' ? { ...options.logger, stream: stdoutLog() } : options.logger
const sim = buildSimulator({ ...options, logger })
await sim.app.listen({ port, host })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { void sim.app.close() })
