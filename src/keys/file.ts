import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { ApiKey } from '../config.js'
import { OPERATIONS, patternProblem, type Operation } from './scope.js'

const FIELDS = new Set(['name', 'key', 'keySha256', 'priority', 'may', 'attributes', 'asyncBacklog'])
const NAME = /^[\w.-]{1,64}$/

/** API_KEYS_FILE, when set, with its problems added to `problems`; it and API_KEYS exclude each other. */
export function keysFile (path: string | undefined, apiKeysGiven: boolean, problems: string[]): ReturnType<typeof readKeysFile> | undefined {
  if (path === undefined) return undefined
  if (apiKeysGiven) problems.push('API_KEYS and API_KEYS_FILE: set one or the other')
  const file = readKeysFile(path)
  problems.push(...file.problems)
  return file
}

export const sha256Hex = (key: string) => createHash('sha256').update(key).digest('hex')

/**
 * API_KEYS_FILE: `keys:`, a list of `{ name, key | keySha256, priority?, may?, attributes?, asyncBacklog? }`, in
 * YAML or JSON (which YAML reads too; a name twice in one mapping is refused either way). Every
 * problem is reported, each naming its entry (by name, else by position) and never a key.
 */
export function readKeysFile (path: string): { keys: ApiKey[]; problems: string[] } {
  const problems: string[] = []
  const keys: ApiKey[] = []
  let doc: unknown
  try {
    doc = parse(readFileSync(path, 'utf8'))
  } catch (err) {
    // The YAML library quotes the line it failed at, which may hold a key: its position only.
    const where = (err as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : where === undefined ? (err as Error).name : `not YAML or JSON at line ${where}`
    return { keys, problems: [`API_KEYS_FILE: ${path}: ${why}`] }
  }
  const list = (doc as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list) || list.length === 0 || Object.keys(doc as object).length !== 1) {
    return { keys, problems: [`API_KEYS_FILE: ${path}: must be a mapping with one field, keys: a list of { name, key or keySha256, priority, may, attributes }`] }
  }
  const owners = new Map<string, string>()
  for (const [i, raw] of list.entries()) {
    const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
    const name = typeof entry.name === 'string' && NAME.test(entry.name) ? entry.name : undefined
    const at = `API_KEYS_FILE: entry ${i + 1}${name ? ` ("${name}")` : ''}`
    const problem = (why: string) => problems.push(`${at}: ${why}`)
    if (name === undefined) problem('name: required, 1 to 64 letters, digits, _ . or -')
    else if (keys.some((k) => k.name === name)) problem(`name "${name}" is given to an entry before it`)
    for (const field of Object.keys(entry)) if (!FIELDS.has(field)) problem(`unknown field "${field}" (known: ${[...FIELDS].join(', ')})`)

    const { key, keySha256 } = entry
    let hash: string | undefined
    if ((key === undefined) === (keySha256 === undefined)) problem('give one of key and keySha256')
    else if (key !== undefined && (typeof key !== 'string' || key.length < 16)) problem('key: must be a string of at least 16 characters')
    else if (keySha256 !== undefined && (typeof keySha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(keySha256))) {
      problem('keySha256: must be 64 hex digits, the SHA-256 of the key (printf %s "$KEY" | sha256sum)')
    } else hash = typeof key === 'string' ? sha256Hex(key) : (keySha256 as string).toLowerCase()
    // Two names for one key would make the caller's name, and so its scope, a matter of order.
    if (hash !== undefined && owners.has(hash)) problem(`the same key as entry "${owners.get(hash)}"`)
    if (hash !== undefined) owners.set(hash, name ?? `${i + 1}`)

    const priority = entry.priority ?? 'live'
    if (priority !== 'live' && priority !== 'bulk') problem('priority: must be live or bulk')
    const may = entry.may ?? OPERATIONS
    if (!Array.isArray(may) || may.length === 0 || may.some((m) => !OPERATIONS.includes(m))) {
      problem(`may: must be a non-empty list of ${OPERATIONS.join(', ')}`)
    }
    const { asyncBacklog } = entry
    if (asyncBacklog !== undefined && !(Number.isInteger(asyncBacklog) && (asyncBacklog as number) >= 1)) {
      problem('asyncBacklog: must be a whole number, at least 1: how many of this key\'s asynchronous updates may wait at once')
    }
    const attributes = entry.attributes ?? ['*']
    if (!Array.isArray(attributes) || attributes.length === 0) problem('attributes: must be a non-empty list of patterns such as crm_*')
    else {
      for (const p of attributes) {
        const why = patternProblem(p)
        if (why) problem(`attributes: pattern ${JSON.stringify(p)} ${why}`)
      }
    }

    if (name !== undefined && hash !== undefined) {
      keys.push({
        name,
        ...(typeof key === 'string' && { key }),
        keySha256: hash,
        priority: priority as ApiKey['priority'],
        scope: { may: [...new Set(may as Operation[])], attributes: attributes as string[] },
        ...(typeof asyncBacklog === 'number' && { asyncBacklog }),
      })
    }
  }
  return { keys, problems }
}
