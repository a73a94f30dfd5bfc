// Which simulator the doctor checks in sandbox mode. A user runs the README's write against
// `npm start`, then the doctor on those ids: a simulator of the doctor's own would not hold that
// call. So it asks, in order, the sandbox gateway on PORT, then `npm run sim` on SIM_PORT, and
// only then starts a private one, which it says, and on which it does not probe.
import type { Config } from '../config.ts'
import { loadSimConfig, SANDBOX_SIMULATOR_PATH, startSandbox, SANDBOX_CLIENT } from '../sim/index.ts'

export interface SandboxTarget {
  /** The configuration with Genesys pointed at that simulator. */
  config: Config
  /** Which simulator, in words, for the report. */
  simulator: string
  /** When no running sandbox was found: why the probe cannot run. */
  probeUnavailable?: string
  close(): Promise<void>
}

/** A listening address as a URL host: 0.0.0.0 and :: are reached on the loopback. */
function reachable (host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host
  return `${h.includes(':') ? `[${h}]` : h}:${port}`
}

/** The JSON an HTTP GET answers with 200, or undefined for anything else (nothing listening, another server). */
async function getJson (url: string): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
    return res.ok ? await res.json() : undefined
  } catch {
    return undefined
  }
}

export async function sandboxTarget (config: Config, env: NodeJS.ProcessEnv): Promise<SandboxTarget> {
  const gateway = reachable(config.host, config.port)
  const answer = await getJson(`http://${gateway}${SANDBOX_SIMULATOR_PATH}`) as { url?: unknown } | undefined
  if (typeof answer?.url === 'string') {
    const genesys = { ...config.genesys, clientId: SANDBOX_CLIENT.id, clientSecret: SANDBOX_CLIENT.secret, apiUrl: answer.url, loginUrl: answer.url }
    return { config: { ...config, genesys }, simulator: `the simulator of the sandbox gateway on ${gateway} (PORT; ${answer.url})`, close: async () => {} }
  }

  const sim = loadSimConfig(env)
  const standalone = 'config' in sim ? reachable(sim.config.host, sim.config.port) : undefined
  if ('config' in sim && (await getJson(`http://${standalone}/__sim/stats`)) !== undefined) {
    const url = `http://${standalone}`
    const genesys = {
      ...config.genesys,
      clientId: sim.config.options.clientId ?? SANDBOX_CLIENT.id,
      clientSecret: sim.config.options.clientSecret ?? SANDBOX_CLIENT.secret,
      apiUrl: url,
      loginUrl: url,
    }
    return { config: { ...config, genesys }, simulator: `the simulator of npm run sim on ${standalone} (SIM_PORT)`, close: async () => {} }
  }

  const nowhere = `no sandbox gateway answers on ${gateway} (PORT)${standalone ? ` and no npm run sim on ${standalone} (SIM_PORT)` : ''}`
  const own = await startSandbox(config)
  return {
    config: own.config,
    simulator: `a simulator of the doctor's own (${nowhere})`,
    probeUnavailable: `not probed: ${nowhere}, so no simulator holds your test call. Start npm start (with the same PORT) or npm run sim in another terminal, write to the call, then run the doctor again`,
    close: () => own.sim.app.close(),
  }
}
