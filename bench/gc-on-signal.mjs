// Preloaded by the memory benchmark, with --expose-gc: SIGUSR2 runs a full collection, so that
// memory is read after garbage is gone, not whenever V8 last happened to collect it.
process.on('SIGUSR2', () => globalThis.gc?.())
