import pino, { type DestinationStream } from 'pino'

/**
 * stdout for a process's log, written synchronously (the cheapest path here), that never waits
 * for a reader: a line that cannot be written now stays buffered (up to a bound, then lines are
 * dropped) and goes out with the next one; once the reader is gone, nothing more is written.
 * pino's default destination is asynchronous and registers an exit hook that flushes with a
 * loop retrying every error, EPIPE included, every 100 ms, forever: once the log reader had
 * gone, process.exit never returned, and no timer or signal could end the process.
 */
export function stdoutLog (): DestinationStream {
  // Opening process.stdout makes a pipe non-blocking (libuv), so a stalled reader gives EAGAIN
  // rather than a write that blocks the whole process in the kernel.
  void process.stdout
  const stream = pino.destination({ dest: 1, sync: true, maxLength: 4 * 1024 * 1024, retryEAGAIN: () => false })
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EAGAIN' || err.code === 'EBUSY') return
    // EPIPE (or worse): nobody will read what follows. pino flushes synchronously on fatal and
    // at the end, and sonic-boom's flush retries every error forever: those go quiet too.
    stream.write = () => true
    stream.flushSync = () => {}
    stream.end = () => {}
  })
  return stream
}
