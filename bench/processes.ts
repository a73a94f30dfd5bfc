// Starting and stopping the processes a benchmark measures.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export const root = new URL('../', import.meta.url).pathname

async function freePort(): Promise<number> {
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
export async function start(command: string[], env: Record<string, string>, ready: string, ipc = false): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const stdio: StdioOptions = ipc ? ['ignore', 'ignore', 'ignore', 'ipc'] : 'ignore'
  const child: ChildProcess = spawn(command[0]!, command.slice(1), { cwd: root, env: { PATH: process.env.PATH, PORT: String(port), SIM_PORT: String(port), ...env }, stdio })
  for (let i = 0; i < 300; i++) {
    if (await fetch(url + ready).then((r) => r.ok, () => false)) return { url, child }
    await sleep(100)
  }
  child.kill()
  throw new Error(`${command.join(' ')} did not start`)
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}

/** The simulator on its own, quiet. */
export const simulator = (writeMs = 0) => start([process.execPath, 'dist/sim/main.js'], { SIM_WRITE_MS: String(writeMs), SIM_LOG_LEVEL: 'warn' }, '/__sim/stats')
