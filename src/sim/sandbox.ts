// Sandbox mode: the service without Genesys credentials, in front of the simulator in-process.
import type { FastifyPluginAsync } from 'fastify'
import type { Config } from '../config.ts'
import { SANDBOX_READ_LAG_MS } from './options.ts'
import { buildSimulator, SANDBOX_CLIENT, type Simulator } from './simulator.ts'

/**
 * Where a sandbox gateway's simulator listens, outside the API keys (it is a loopback port of a
 * simulator whose credentials are public): `npm run -s doctor` asks, so that its probe reaches
 * the conversations this process wrote to rather than a simulator of its own.
 */
export const SANDBOX_SIMULATOR_PATH = '/__sandbox/simulator'

export const sandboxRoute: FastifyPluginAsync<{ sim: Simulator }> = async (app, { sim }) => {
  app.get(SANDBOX_SIMULATOR_PATH, { schema: { hide: true }, logLevel: 'silent' }, async () => ({ url: sim.app.listeningOrigin }))
}

/**
 * Starts the simulator on a private port and points the configuration at it. Its reads lag its
 * writes, as Genesys's do, so what works here works against a Genesys that shows writes late.
 */
export async function startSandbox (config: Config): Promise<{ config: Config; sim: Simulator }> {
  const sim = buildSimulator({ readLagMs: SANDBOX_READ_LAG_MS })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  const genesys = { ...config.genesys, clientId: SANDBOX_CLIENT.id, clientSecret: SANDBOX_CLIENT.secret, apiUrl: url, loginUrl: url }
  return { config: { ...config, genesys }, sim }
}

/** The warning for the person at the terminal (a JSON log line hides a banner), with a curl to try. */
export function sandboxBanner (config: Config, address: string): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
  const base = `http://${host}:${new URL(address).port}`
  const authOff = config.apiKeys.length === 0
  return [
    '',
    '  *** SANDBOX MODE ***',
    '  No GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET: writes go to the built-in Genesys simulator,',
    '  not to Genesys Cloud. Set the credentials and GENESYS_REGION to talk to your org.',
    authOff ? '  API_KEYS is not set either: caller authentication is OFF.' : `  Callers must send one of the keys in ${config.apiKeysFrom ?? 'API_KEYS'}.`,
    `  See it in a browser: ${base}/console`,
    '',
    '  Try it:',
    `  curl -s -X POST ${base}/participants/7d7a8c0e-4f43-4a6e-9a31-2b0b7c4f0d11/9c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f/data \\`,
    `    -H 'Content-Type: application/json'${authOff ? '' : " -H 'Authorization: Bearer YOUR_KEY'"} -d '{"attributes":{"customer_tier":"gold"}}'`,
    '',
    '',
  ].join('\n')
}
