import { execFile, spawn } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'

const root = new URL('../../', import.meta.url)
const SHUTDOWN_MS = 2000

// The compiled entry, as `npm start` and the image run it: under the TypeScript loader the
// shutdown's timing differs and the hang this guards against did not show. Copied into a
// folder of this test's own, laid out as the repository is (dist/ beside package.json, and
// node_modules found above).
const cache = new URL('node_modules/.cache/', root).pathname
await mkdir(cache, { recursive: true })
const app = await mkdtemp(join(cache, 'pdg-log-pipe-'))
t.teardown(() => rm(app, { recursive: true, force: true }))
await cp(new URL('package.json', root), join(app, 'package.json'))
const entry = join(app, 'dist', 'server.js')
await cp(new URL('dist', root), join(app, 'dist'), { recursive: true })

/**
 * The real entry point with stdout and stderr on a named pipe (a real pipe, as a container
 * runtime or `node server.js | shipper` gives it), read by this test until start-up is over.
 */
async function serviceOnPipe (t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'pdg-pipe-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const fifo = join(dir, 'log')
  await promisify(execFile)('mkfifo', [fifo])
  // The read end non-blocking, read through the event loop (a thread-pool read of a fifo would
  // hold its thread, and the end's closing, until the next line comes).
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const writer = openSync(fifo, 'w')
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: { PATH: process.env.PATH, NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS) },
    stdio: ['ignore', writer, writer],
  })
  closeSync(writer)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
  })
  const lines = new Socket({ fd: reader, readable: true, writable: false })
  let log = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not listen within 60 s:\n${log}`)), 60_000)
    lines.on('data', (d) => {
      log += d
      const m = log.match(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
      // The sandbox's banner (on stderr, here the same pipe) is the last thing start-up writes.
      if (m && log.includes('"customer_tier":"gold"}}\'\n')) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void exited.then((code) => reject(new Error(`service exited ${code} before listening:\n${log}`)))
  })
  /** The test's reader goes away: its end of the pipe is closed. */
  const stopReading = () => new Promise<void>((resolve) => lines.destroy().once('close', () => resolve()))
  /**
   * SIGTERM; resolves with the exit code, or undefined if it is still running after `waitMs`: a
   * bound on a hang (the service's own SHUTDOWN_TIMEOUT_MS is what ends it), not a measurement.
   */
  const terminate = async (waitMs: number) => {
    child.kill('SIGTERM')
    const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), waitMs).unref())])
    return code === 'running' ? undefined : { code }
  }
  return { fifo, url, stopReading, terminate }
}

t.test('SIGTERM after the log reader has gone: the service exits within SHUTDOWN_TIMEOUT_MS', async (t) => {
  const svc = await serviceOnPipe(t)
  await svc.stopReading()
  const exit = await svc.terminate(10 * SHUTDOWN_MS)
  t.ok(exit, 'it exits after SIGTERM, not stuck retrying a write to the dead pipe')
  t.equal(exit?.code, 0, 'and cleanly: the lines nobody could read were dropped')
})

t.test('a log reader that stops reading but keeps the pipe open slows no caller and holds no shutdown', async (t) => {
  const svc = await serviceOnPipe(t)
  // A second reader that never reads keeps the pipe open: writes meet a full pipe, not EPIPE.
  let stalled: number | undefined = openSync(svc.fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  t.teardown(() => stalled !== undefined && closeSync(stalled))
  await svc.stopReading()

  // Each answer logs a line: a few thousand fill the pipe's buffer (64 KiB) several times over.
  const dispatcher = new Agent({ connections: 8 })
  t.teardown(() => dispatcher.destroy())
  let answered = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 250; i++) {
        const res = await request(`${svc.url}/no-such-route-${'x'.repeat(200)}`, { dispatcher, signal: AbortSignal.timeout(5000) }).catch(() => undefined)
        if (res === undefined) return
        await res.body.dump()
        answered++
      }
    })
  )
  // A service blocked on the full pipe answers none of them (each gives up after 5 s).
  t.equal(answered, 2000, 'every request was answered, without waiting on the log')

  const exit = await svc.terminate(10 * SHUTDOWN_MS)
  t.ok(exit, 'it exits after SIGTERM, not stuck waiting for room in the pipe')
  closeSync(stalled)
  stalled = undefined
})
