// `npm run test:under-load`: `npm test` (its arguments passed on) while two busy loops take the
// CPU it would otherwise have to spare, as on a CI runner shared with another build. The suite must
// pass so: its tests wait for states, not for lengths of time. The loops end with the run, also on
// Ctrl-C or a kill of this script (they are its children, and are killed by id).
import { spawn } from 'node:child_process'

const busy = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }))
const stop = () => {
  for (const b of busy) if (b.exitCode === null && b.signalCode === null) b.kill('SIGKILL')
}
process.on('exit', stop)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    stop()
    // The test run got the same Ctrl-C from the terminal; a kill of this script alone ends it too.
    if (run.exitCode === null && run.signalCode === null) run.kill(signal)
    process.exitCode = 130
  })
}
const started = performance.now()
const run = spawn('npm', ['test', '--', ...process.argv.slice(2)], { stdio: 'inherit' })
run.on('exit', (code, signal) => {
  stop()
  console.log(`# under load (two busy loops): npm test ${signal ?? `exited ${code}`} after ${Math.round((performance.now() - started) / 1000)} s`)
  process.exitCode = code ?? 1
})
