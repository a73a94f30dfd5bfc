// Process entry: config → (sandbox simulator) → buildApp → listen → graceful close.
import './node-version.ts'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { stdoutLog } from './observability/index.ts'
import { sandboxBanner, startSandbox, type Simulator } from './sim/index.ts'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`participant-data-gateway cannot start, ${err.message}`)
  process.exit(1)
}

let sim: Simulator | undefined
if (config.mode === 'sandbox') ({ config, sim } = await startSandbox(config))

const app = await buildApp(config, { logStream: stdoutLog(), ...(sim && { sim }) })

// SIGTERM/SIGINT: refuse new requests with 503, answer every waiting caller (a second before the
// limit, so the answers get out), then close. Past the limit close-with-grace exits regardless.
closeWithGrace({ delay: config.shutdownTimeoutMs, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  const started = Date.now()
  app.log.info({ signal, waiting: app.services.updates.callers }, 'shutting down')
  await app.shutdown(started + Math.max(config.shutdownTimeoutMs - 1000, config.shutdownTimeoutMs / 2))
  await app.close()
  await sim?.app.close()
  app.log.info({ ms: Date.now() - started }, 'shut down')
})

const address = await app.listen({ port: config.port, host: config.host })

if (sim === undefined && config.apiKeys.length === 0) {
  // Allowed outside production (the simulator, a developer's own org), but never quietly.
  app.log.warn({ callerAuth: false }, 'API_KEYS is not set: caller authentication is OFF, and anyone who can reach this port can write to Genesys Cloud')
  process.stderr.write('\n  *** API_KEYS is not set: caller authentication is OFF. Anyone who can reach this port can write. ***\n\n')
}

if (sim !== undefined) {
  app.log.warn({ mode: 'sandbox', callerAuth: config.apiKeys.length > 0 }, 'SANDBOX MODE: writes go to the built-in Genesys simulator, not to Genesys Cloud')
  process.stderr.write(sandboxBanner(config, address))
}
