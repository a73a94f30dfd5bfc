import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { buildApp, type AppDeps } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { buildSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/simulator.ts'

export interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Stack {
  sim: Simulator
  app: FastifyInstance
  url: string
  config: Config
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
}

import { until } from './until.ts'

export { until }

/**
 * The simulator's read lag in tests: every write-path test runs against a Genesys that shows
 * writes late. Short, so a test that waits for Genesys to show a write (a foreign one) waits little.
 */
export const TEST_READ_LAG_MS = 150

/** Fresh UUIDs that look like Genesys ids. */
export const id = () => crypto.randomUUID()

export async function send (url: string, method: 'GET' | 'POST', body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
}

/**
 * The real simulator and the real service, each listening on port 0, the service configured
 * through the same environment parsing as production and pointed at the simulator over HTTP.
 */
export async function startStack (
  t: Teardown,
  opts: {
    sim?: SimulatorOptions
    /** Another stack's simulator, for a second instance in front of the same "Genesys". */
    shareSimWith?: Stack
    env?: Record<string, string>
    deps?: AppDeps
    tune?: (config: Config) => void
  } = {}
): Promise<Stack> {
  const clientId = opts.sim?.clientId ?? 'test-client'
  let sim: Simulator
  let simUrl: string
  if (opts.shareSimWith) {
    sim = opts.shareSimWith.sim
    simUrl = opts.shareSimWith.config.genesys.apiUrl
  } else {
    // Reads lag writes, as Genesys's do, unless a test says otherwise.
    sim = buildSimulator({ clientId, clientSecret: 'test-secret', readLagMs: TEST_READ_LAG_MS, ...opts.sim })
    simUrl = await sim.app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => sim.app.close())
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    GENESYS_CLIENT_ID: opts.shareSimWith?.config.genesys.clientId ?? clientId,
    GENESYS_CLIENT_SECRET: 'test-secret',
    GENESYS_API_URL: simUrl,
    GENESYS_LOGIN_URL: simUrl,
    // Tests that are not about the request budget should not be slowed by it.
    GENESYS_RATE_LIMIT_PER_MINUTE: '1000000',
    ...opts.env,
  })
  // For what no variable sets, such as a rate window shorter than Genesys's minute.
  opts.tune?.(config)
  const app = await buildApp(config, opts.deps)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { sim, app, url, config, post: (path, body, headers) => send(url + path, 'POST', body, headers) }
}

/**
 * Two replicas: instances with the same environment (one Redis or cluster, say) in front of one
 * simulator, made by the first with `sim`. Returned once both are ready, as a load balancer sends
 * them traffic: a replica starts after a bounded wait for Redis, and on a busy machine a cluster's
 * nodes may take longer to connect.
 */
export async function startReplicas (t: Teardown, opts: { env: Record<string, string>; sim?: SimulatorOptions }): Promise<[Stack, Stack]> {
  const a = await startStack(t, opts)
  const replicas: [Stack, Stack] = [a, await startStack(t, { env: opts.env, shareSimWith: a })]
  for (const { url } of replicas) await until(async () => (await send(`${url}/readyz`, 'GET')).status, (status) => status === 200, { what: `${url}/readyz 200` })
  return replicas
}
