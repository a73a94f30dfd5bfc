// Whether Genesys's PATCH of participant attributes merges per key or replaces the map: not
// documented (genesys-api.md), so asked of the org itself, on a test call the user owns.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Attributes } from '../attributes/body.js'
import type { GenesysClient } from '../genesys/client.js'
import type { Check } from './doctor.js'

export type Semantics = 'merge' | 'replace' | 'unknown'

const NAME = 'PATCH semantics (merge or replace)'
// A 202 may show on the next read a moment later: read this often, this far apart, before concluding.
const READS = 5
const READ_GAP_MS = 300

export interface ProbeOptions {
  writeMode: 'merge' | 'patch'
  pause?: ((ms: number) => Promise<void>) | undefined
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
  /** Reads until `key` shows its probe value (or the reads run out). */
  const settled = async (key: string) => {
    let now = await read()
    for (let i = 1; i < READS && now?.attributes[key] !== values[key]; i++) {
      await pause(READ_GAP_MS)
      now = await read()
    }
    return now?.attributes ?? {}
  }

  let semantics: Semantics = 'unknown'
  let why = ''
  try {
    await client.patchParticipantAttributes(conversationId, participantId, { [a]: values[a]! })
    await settled(a)
    await client.patchParticipantAttributes(conversationId, participantId, { [b]: values[b]! })
    const after = await settled(b)
    const others = Object.keys(before).filter((k) => k !== a && k !== b)
    const kept = others.every((k) => after[k] === before[k])
    if (after[b] !== values[b]) why = `the second probe key did not show within ${READS} reads`
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
    restored = await verify(await read(), before, [a, b])
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
  return { semantics, check: { name: NAME, ok: ok && !wrongMode, detail: `${semantics}: ${advice}; ${restored}` } }
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
