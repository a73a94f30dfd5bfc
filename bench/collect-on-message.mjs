// Preloaded by the memory benchmark, with --expose-gc: a 'gc' message from the benchmark runs a
// full collection and answers 'collected', so memory is read after garbage is gone, not whenever
// V8 last happened to collect it. (Not a signal: close-with-grace shuts down on SIGUSR2, and
// SIGUSR1 belongs to the inspector.)
process.on('message', (message) => {
  if (message !== 'gc') return
  globalThis.gc?.()
  process.send?.('collected')
})
// The channel must not keep the service alive once it has shut down.
process.channel?.unref()
