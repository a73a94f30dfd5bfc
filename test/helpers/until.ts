import { inspect } from 'node:util'

/**
 * Waits for a state, never for a length of time: looks with `look` after each short turn until
 * `holds` says yes, and answers what it last saw. A state that does not come within `withinMs`
 * (far beyond any healthy run; it bounds a broken one) fails loudly, naming what was awaited and
 * what was last seen, instead of hanging until tap's timeout or giving up silently.
 */
export async function until<T> (
  look: () => T | Promise<T>,
  holds: (seen: Awaited<T>) => boolean = Boolean,
  { what = 'the awaited state', withinMs = 30_000, everyMs = 5 }: {
    what?: string
    withinMs?: number
    /** The pause between looks: longer where looking itself disturbs what is awaited (an event loop's idleness, say). */
    everyMs?: number
  } = {}
): Promise<Awaited<T>> {
  const giveUpAt = performance.now() + withinMs
  for (;;) {
    const seen = await look()
    if (holds(seen)) return seen
    if (performance.now() > giveUpAt) throw new Error(`until: ${what} did not come within ${withinMs} ms; last seen: ${inspect(seen, { depth: 4, breakLength: Infinity })}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
