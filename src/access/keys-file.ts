import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { patternProblem } from './scope.ts'
import { OPERATIONS, type ApiKey, type Operation } from '../domain.ts'

const FIELDS = new Set(['name', 'key', 'keySha256', 'priority', 'may', 'attributes', 'asyncBacklog', 'callbackUrl', 'callbackSecret'])
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

    const callback = callbackOf(entry, problem)

    if (name !== undefined && hash !== undefined) {
      keys.push({
        name,
        ...(typeof key === 'string' && { key }),
        keySha256: hash,
        priority: priority as ApiKey['priority'],
        scope: { may: [...new Set(may as Operation[])], attributes: attributes as string[] },
        ...(typeof asyncBacklog === 'number' && { asyncBacklog }),
        ...(callback !== undefined && { callback }),
      })
    }
  }
  return { keys, problems }
}

/** Standard Webhooks: whsec_, then the HMAC key's bytes (at least 16) in padded base64, as the reference libraries decode it. */
export function isWebhookSecret (secret: string): boolean {
  const base64 = secret.slice('whsec_'.length)
  return secret.startsWith('whsec_') && /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(base64) && Buffer.from(base64, 'base64').length >= 16
}

/**
 * Outcome callbacks (docs/crm.md): where the key's asynchronous outcomes are POSTed, and the secret they are signed
 * with. Both or neither. Whether the URL may be http, or reach a private address, is decided
 * with the mode (config.ts) and the address (delivery/callback-url.ts), not here.
 */
function callbackOf (entry: Record<string, unknown>, problem: (why: string) => void): { url: string; secret: string } | undefined {
  const { callbackUrl: url, callbackSecret: secret } = entry
  if (url === undefined && secret === undefined) return undefined
  if (url === undefined || secret === undefined) {
    problem('callbackUrl and callbackSecret: give both or neither')
    return undefined
  }
  let parsed: URL | undefined
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined
  } catch {}
  const bad = (() => {
    if (parsed === undefined) return 'must be an absolute http(s) URL'
    if (!['http:', 'https:'].includes(parsed.protocol)) return 'must be an http(s) URL'
    if (parsed.username !== '' || parsed.password !== '') return 'must not hold a user name or password (the signature authenticates the gateway)'
    return parsed.hash !== '' ? 'must not hold a #fragment' : undefined
  })()
  if (bad !== undefined) problem(`callbackUrl: ${bad}`)
  // Never echoed: it is a secret.
  if (typeof secret !== 'string' || !isWebhookSecret(secret)) problem('callbackSecret: must be a Standard Webhooks secret: whsec_ then at least 16 random bytes in padded base64')
  return bad === undefined && typeof secret === 'string' && isWebhookSecret(secret) ? { url: parsed!.href, secret } : undefined
}
