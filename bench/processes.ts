// Starting and stopping the processes a benchmark measures, and the request that drives them.
import type { Request } from 'autocannon'
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { serviceFlags } from './service-flags.ts'

export const root = new URL('../', import.meta.url).pathname

async function freePort (): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  s.close()
  return port
}

/**
 * Starts a process on a free port (as PORT and SIM_PORT) and waits until `ready` answers; with
 * `ipc`, the process gets a message channel (child.send, process.send).
 */
export async function start (command: string[], env: Record<string, string>, ready: string, ipc = false): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const stdio: StdioOptions = ipc ? ['ignore', 'ignore', 'ignore', 'ipc'] : 'ignore'
  const childEnv = { PATH: process.env.PATH, PORT: String(port), SIM_PORT: String(port), ...env }
  const child: ChildProcess = spawn(command[0]!, command.slice(1), { cwd: root, env: childEnv, stdio })
  for (let i = 0; i < 300; i++) {
    if (await fetch(url + ready).then((r) => r.ok, () => false)) return { url, child }
    await sleep(100)
  }
  child.kill()
  throw new Error(`${command.join(' ')} did not start`)
}

export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}

/** The Node flags the service ships with (npm start's, which the Dockerfile's CMD matches). */
export const SERVICE_NODE_FLAGS = serviceFlags(readFileSync(`${root}package.json`, 'utf8'))

/** The simulator on its own, quiet. */
export const simulator = (writeMs = 0, env: Record<string, string> = {}) =>
  start([process.execPath, 'dist/sim/main.js'], { SIM_WRITE_MS: String(writeMs), SIM_LOG_LEVEL: 'warn', ...env }, '/__sim/stats')

/** A participant to write to: conversation and participant ids. */
export interface Target {
  c: string
  p: string
}

/** autocannon's request for one update: attribute `key` = "v" on `t`; with `async`, `Prefer: respond-async`. */
export function update (req: Request, t: Target, key: string, async = false, apiKey?: string): Request {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(async && { prefer: 'respond-async' }), ...(apiKey !== undefined && { 'x-api-key': apiKey }) }
  return { ...req, path: `/participants/${t.c}/${t.p}/data`, headers, body: JSON.stringify({ attributes: { [key]: 'v' } }) }
}

/**
 * A private redis-server on a free port (never 6379), nothing persisted, as the tests start
 * theirs; undefined when redis-server is not installed.
 */
export async function redisServer (): Promise<{ url: string; child: ChildProcess } | undefined> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  const ready = await Promise.race([
    once(child, 'error').then(() => false),
    (async () => {
      for (let i = 0; i < 100 && !/Ready to accept connections/.test(out); i++) await sleep(50)
      return /Ready to accept connections/.test(out)
    })(),
  ])
  child.stdout!.resume()
  if (!ready) {
    child.kill()
    return undefined
  }
  return { url: `redis://127.0.0.1:${port}`, child }
}

/** The sum of the service's metric `name` over all its labels, from /metrics (0 when absent). */
export async function metric (url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0)
}

/** Polls until no asynchronous update waits at `url` (pdg_async_backlog is 0); false if `ms` passed first. */
export async function drained (url: string, ms: number, every = 100): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if ((await metric(url, 'pdg_async_backlog')) === 0) return true
    await sleep(every)
  }
  return false
}

/** This service against the simulator at `sim`, with the simulator's token and no request budget to speak of. */
export function serviceEnv (sim: string, mode: 'merge' | 'patch'): Record<string, string> {
  return {
    GENESYS_API_URL: sim,
    GENESYS_LOGIN_URL: sim,
    GENESYS_CLIENT_ID: 'sandbox',
    GENESYS_CLIENT_SECRET: 'sandbox',
    GENESYS_WRITE_MODE: mode,
    // The simulator has no budget; Genesys's 300 a minute would make this a test of waiting.
    GENESYS_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'info',
  }
}
