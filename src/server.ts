// Process entry: config → (sandbox simulator) → buildApp → listen → graceful close.
import closeWithGrace from 'close-with-grace'
import pino, { type DestinationStream } from 'pino'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { buildSimulator, SANDBOX_CLIENT, type Simulator } from './sim/simulator.js'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`participant-data-gateway cannot start, ${err.message}`)
  process.exit(1)
}

let sim: Simulator | undefined
if (config.mode === 'sandbox') {
  // No Genesys credentials: run against the simulator, in this process, on a private port.
  sim = buildSimulator()
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  config = { ...config, genesys: { ...config.genesys, clientId: SANDBOX_CLIENT.id, clientSecret: SANDBOX_CLIENT.secret, apiUrl: url, loginUrl: url } }
}

/**
 * stdout for the log, written synchronously (the cheapest path here), that never waits for
 * a reader: a line that cannot be written now stays buffered (up to a bound, then lines are
 * dropped) and goes out with the next one; once the reader is gone, nothing more is written.
 * pino's default destination is asynchronous and registers an exit hook that flushes with a
 * loop retrying every error, EPIPE included, every 100 ms, forever: once the log reader had
 * gone, process.exit never returned, and no timer or signal could end the process.
 */
function stdoutLog(): DestinationStream {
  // Opening process.stdout makes a pipe non-blocking (libuv), so a stalled reader gives EAGAIN
  // rather than a write that blocks the whole process in the kernel.
  void process.stdout
  const stream = pino.destination({ dest: 1, sync: true, maxLength: 4 * 1024 * 1024, retryEAGAIN: () => false })
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EAGAIN' || err.code === 'EBUSY') return
    // EPIPE (or worse): nobody will read what follows.
    stream.write = () => true
  })
  return stream
}

const app = await buildApp(config, { logStream: stdoutLog() })

// SIGTERM/SIGINT: refuse new requests with 503, answer every waiting caller (a second before the
// limit, so the answers get out), then close. Past the limit close-with-grace exits regardless.
closeWithGrace({ delay: config.shutdownTimeoutMs, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  const started = Date.now()
  app.log.info({ signal, waiting: app.updates.callers }, 'shutting down')
  await app.shutdown(started + Math.max(config.shutdownTimeoutMs - 1000, config.shutdownTimeoutMs / 2))
  await app.close()
  await sim?.app.close()
  app.log.info({ ms: Date.now() - started }, 'shut down')
})

const address = await app.listen({ port: config.port, host: config.host })

if (sim !== undefined) {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const base = `http://${host}:${new URL(address).port}`
  const authOff = config.apiKeys.length === 0
  app.log.warn({ mode: 'sandbox', callerAuth: !authOff }, 'SANDBOX MODE: writes go to the built-in Genesys simulator, not to Genesys Cloud')
  // Plain text as well, for the person at the terminal: a JSON log line hides a banner.
  process.stderr.write(
    [
      '',
      '  *** SANDBOX MODE ***',
      '  No GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET: writes go to the built-in Genesys simulator,',
      '  not to Genesys Cloud. Set the credentials and GENESYS_REGION to talk to your org.',
      authOff ? '  API_KEYS is not set either: caller authentication is OFF.' : '  Callers must send one of API_KEYS.',
      '',
      '  Try it:',
      `  curl -s -X POST ${base}/participants/7d7a8c0e-4f43-4a6e-9a31-2b0b7c4f0d11/9c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f/data \\`,
      `    -H 'Content-Type: application/json'${authOff ? '' : " -H 'Authorization: Bearer YOUR_KEY'"} -d '{"attributes":{"customer_tier":"gold"}}'`,
      '',
      '',
    ].join('\n'),
  )
}
