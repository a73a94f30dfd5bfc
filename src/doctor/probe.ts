// Whether Genesys's PATCH of participant attributes merges per key or replaces the map: not
// documented (docs/going-live.md, "Merge or replace"), so asked of the org itself, on a test call the user owns.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { GenesysClient } from '../genesys/index.ts'
import type { Check } from './checks.ts'
import type { Attributes } from '../domain.ts'

export type Semantics = 'merge' | 'replace' | 'unknown'

const NAME = 'PATCH semantics (merge or replace)'
// Genesys shows a write late: its own advice is to retry a read-back for up to 10 s.
const SHOW_WAIT_MS = 10_000
const READ_GAP_MS = 250

export interface ProbeOptions {
  writeMode: 'merge' | 'patch'
  pause?: ((ms: number) => Promise<void>) | undefined
  /** For the report of how long a write took to show. */
  clock?: (() => number) | undefined
}

/**
 * Writes two probe keys one at a time and reads back: both there, and the attributes the
 * participant had too, is merge; only the second left is replace. The second key is what tells
 * when the participant had no attributes. Then the participant is put back: under replace by
 * writing its old map (the probe keys go), under merge by emptying the probe keys (the only way
 * to clear one), so every attribute it had is unchanged under either.
 */
export async function probe (
  client: Pick<GenesysClient, 'getConversation' | 'patchParticipantAttributes'>,
  conversationId: string,
  participantId: string,
  opts: ProbeOptions
): Promise<{ semantics: Semantics; check: Check }> {
  const pause = opts.pause ?? ((ms) => sleep(ms))
  const clock = opts.clock ?? Date.now
  const read = async (): Promise<{ attributes: Attributes; endTime: string | undefined } | undefined> => {
    const c = await client.getConversation(conversationId)
    const p = c.participants.find((x) => x.id === participantId)
    return p && { attributes: { ...p.attributes }, endTime: c.endTime }
  }
  let first: Awaited<ReturnType<typeof read>>
  try {
    first = await read()
  } catch (err) {
    return unknown(`reading the participant failed, nothing was written: ${(err as Error).message}`)
  }
  if (first === undefined) return unknown(`participant ${participantId} is not in conversation ${conversationId}`)
  if (first.endTime !== undefined) return unknown(`conversation ${conversationId} has ended (${first.endTime}): place a new test call`)
  const before = first.attributes
  const run = randomUUID().slice(0, 8)
  const [a, b] = ['pdg_doctor_probe_1', 'pdg_doctor_probe_2']
  const values = { [a]: `probe-${run}-1`, [b]: `probe-${run}-2` }
  /** Reads until the map `shows` what was written, for up to SHOW_WAIT_MS: the last read, and how long it took. */
  const shown = async (shows: (attributes: Attributes) => boolean) => {
    const start = clock()
    let now = await read()
    for (let waited = 0; !(now !== undefined && shows(now.attributes)) && waited < SHOW_WAIT_MS; waited += READ_GAP_MS) {
      await pause(READ_GAP_MS)
      now = await read()
    }
    return { attributes: now?.attributes ?? {}, ok: now !== undefined && shows(now.attributes), ms: clock() - start, participant: now }
  }
  const settled = (key: string) => shown((m) => m[key] === values[key])

  let semantics: Semantics = 'unknown'
  let why = ''
  let lag = ''
  try {
    await client.patchParticipantAttributes(conversationId, participantId, { [a]: values[a]! })
    const firstShown = await settled(a)
    lag = firstShown.ok ? `a write showed after ${Math.round(firstShown.ms)} ms` : ''
    await client.patchParticipantAttributes(conversationId, participantId, { [b]: values[b]! })
    const { attributes: after, ok: secondShown } = await settled(b)
    const others = Object.keys(before).filter((k) => k !== a && k !== b)
    const kept = others.every((k) => after[k] === before[k])
    if (!firstShown.ok) why = `the first probe key did not show within ${SHOW_WAIT_MS / 1000} s`
    else if (!secondShown) why = `the second probe key did not show within ${SHOW_WAIT_MS / 1000} s`
    else if (after[a] === values[a] && kept) semantics = 'merge'
    else if (!(a in after) && Object.keys(after).every((k) => k === b)) semantics = 'replace'
    else why = `after two single-key writes the participant held ${Object.keys(after).sort().join(', ') || 'nothing'}, which is neither merge nor replace`
  } catch (err) {
    why = `a probe request failed: ${(err as Error).message}`
  }

  // Under replace the old map is the whole answer; under merge the probe keys alone are set back
  // (or emptied), so nothing written meanwhile is undone. Not known (a probe may have replaced the
  // map before failing): the old map with the probe keys emptied, right under either semantics.
  const probesBack = { [a]: before[a] ?? '', [b]: before[b] ?? '' }
  const restore: Attributes = semantics === 'replace' ? before : semantics === 'merge' ? probesBack : { ...before, ...probesBack }
  let restored: string
  try {
    await client.patchParticipantAttributes(conversationId, participantId, restore)
    // Read until the restore shows (it shows late too), or the wait is over and it is told as it stands.
    const back = await shown((m) => verify({ attributes: m }, before, [a, b]).startsWith('put back'))
    restored = verify(back.participant, before, [a, b])
  } catch (err) {
    restored = `putting the participant back failed (${(err as Error).message}): check ${a} and ${b} and its other attributes by hand`
  }
  const ok = restored.startsWith('put back')
  if (semantics === 'unknown') return { semantics, check: { name: NAME, ok: false, detail: `unknown: ${why}; ${restored}` } }
  const advice = semantics === 'merge'
    ? opts.writeMode === 'patch'
      ? 'GENESYS_WRITE_MODE=patch is right here: one Genesys request per write'
      : 'GENESYS_WRITE_MODE=patch halves Genesys requests per write (the PATCH alone, no read first), and is safe here'
    : opts.writeMode === 'patch'
      ? 'GENESYS_WRITE_MODE=patch would erase every attribute a write does not name: set GENESYS_WRITE_MODE=merge'
      : 'keep GENESYS_WRITE_MODE=merge (the default): it reads and writes the full map'
  const wrongMode = semantics === 'replace' && opts.writeMode === 'patch'
  return { semantics, check: { name: NAME, ok: ok && !wrongMode, detail: `${semantics}: ${advice}; ${lag}; ${restored}` } }
}

const unknown = (why: string) => ({ semantics: 'unknown' as const, check: { name: NAME, ok: false, detail: `unknown: ${why}` } })

/** Names keys only: values may be personal data. */
function verify (now: { attributes: Attributes } | undefined, before: Attributes, probes: string[]): string {
  if (now === undefined) return 'the participant could not be read back after restoring it'
  const changed = Object.keys(before).filter((k) => now.attributes[k] !== before[k])
  const left = probes.filter((k) => !(k in before) && now.attributes[k] !== undefined && now.attributes[k] !== '')
  if (changed.length > 0 || left.length > 0) return `not put back: ${[...changed, ...left].join(', ')} differ from before; set them by hand`
  const emptied = probes.filter((k) => !(k in before) && now.attributes[k] === '')
  return emptied.length > 0
    ? `put back: every attribute as it was; ${emptied.join(' and ')} left empty ("") as the API has no way to remove a key`
    : 'put back: every attribute as it was, the probe keys removed'
}
