import type { FastifyInstance } from 'fastify'
import { buildApp, type AppDeps } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { startSandbox } from '../../src/sim/sandbox.ts'
import type { Simulator } from '../../src/sim/simulator.ts'
import type { Teardown } from '../helpers/stack.ts'

export interface SandboxStack {
  app: FastifyInstance
  sim: Simulator
  url: string
  config: Config
}

/** The service in sandbox mode as server.ts starts it: configuration from the environment, the simulator in-process. */
export async function startSandboxStack (t: Teardown, env: Record<string, string> = {}, deps: AppDeps = {}): Promise<SandboxStack> {
  const { config, sim } = await startSandbox(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env }))
  t.teardown(() => sim.app.close())
  const app = await buildApp(config, { ...deps, sim })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { app, sim, url, config }
}
