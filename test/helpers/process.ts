import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Teardown } from './stack.ts'
import { dist } from './dist.ts'

const root = new URL('../../', import.meta.url)

export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams
  url: string
  /** Everything written to stdout so far (the JSON log). */
  stdout(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * The service's real entry point in a process of its own, compiled as `npm start` runs it, so
 * signals and exit codes are the real ones. Resolves once it listens.
 */
export async function startService (
  t: Teardown,
  env: Record<string, string>,
  /** Another command (the image's), run in another folder. */
  run: { command: string[]; cwd: string | URL } = { command: dist('server.js'), cwd: root },
  /** What the process prints once it listens; its first group is the base URL. */
  listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/
): Promise<ServiceProcess> {
  const [command, ...args] = run.command
  const child = spawn(command!, args, {
    cwd: run.cwd,
    env: { PATH: process.env.PATH, NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  // SIGKILL cannot be refused, so waiting for the exit is bounded; the next test's ports and CPU are free.
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not listen within 60 s:\n${err}\n${out}`)), 60_000)
    child.stdout.on('data', () => {
      const m = out.match(listening)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void exited.then(({ code }) => reject(new Error(`service exited ${code} before listening:\n${err}\n${out}`)))
  })
  return { child, url, stdout: () => out, exited }
}
