import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { systemClock, type Clock } from '../clock.ts'
import { digestOf } from '../access/index.ts'
import type { ApiKey } from '../domain.ts'

/**
 * The console's sign-in: a person pastes one of API_KEYS into a form (a POST body, never a URL),
 * and gets a cookie naming the key and when it expires, signed with HMAC-SHA256 keyed by that
 * API key itself. Nothing is stored server-side, so every replica accepts it and a restart keeps
 * it; removing or changing the key in API_KEYS ends every session made with it. The cookie is
 * HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends it). A key
 * API_KEYS_FILE gives only as its SHA-256 signs with that hash mixed with the Genesys client
 * secret, so that reading the file is not enough to make a session.
 */
export const COOKIE = 'pdg_console'
const LIFETIME_MS = 8 * 60 * 60 * 1000

const b64 = (s: string) => Buffer.from(s).toString('base64url')
const digest = (s: string) => createHash('sha256').update(s).digest()

export class Sessions {
  readonly #keys: readonly ApiKey[]
  readonly #now: () => number
  readonly #pepper: string

  constructor (keys: readonly ApiKey[], clock: Clock = systemClock, pepper = '') {
    this.#keys = keys
    this.#now = clock.now
    this.#pepper = pepper
  }

  #sign (key: ApiKey, payload: string): string {
    const secret = key.key ?? createHmac('sha256', this.#pepper).update(key.keySha256!).digest()
    return createHmac('sha256', secret).update(`console|${payload}`).digest('base64url')
  }

  /** The configured key a person typed, compared the way the API compares keys (digests, timing-safe). */
  keyFor (presented: string): ApiKey | undefined {
    const d = digest(presented)
    let match: ApiKey | undefined
    for (const k of this.#keys) if (timingSafeEqual(d, digestOf(k))) match ??= k
    return match
  }

  /** The Set-Cookie value that signs this key's holder in. */
  cookie (key: ApiKey, secure: boolean): string {
    const payload = `${b64(key.name)}.${this.#now() + LIFETIME_MS}`
    const flags = `Path=/console; HttpOnly; SameSite=Strict; Max-Age=${LIFETIME_MS / 1000}${secure ? '; Secure' : ''}`
    return `${COOKIE}=${payload}.${this.#sign(key, payload)}; ${flags}`
  }

  static readonly cleared = `${COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0`

  /** The API key behind the request's session cookie; undefined when none is valid. */
  keyOf (req: FastifyRequest): ApiKey | undefined {
    const value = cookieValue(req.headers.cookie, COOKIE)
    const [name, expires, mac] = value?.split('.') ?? []
    if (name === undefined || expires === undefined || mac === undefined) return undefined
    if (!(Number(expires) > this.#now())) return undefined
    const key = this.#keys.find((k) => b64(k.name) === name)
    if (key === undefined) return undefined
    const expected = Buffer.from(this.#sign(key, `${name}.${expires}`))
    const given = Buffer.from(mac)
    return given.length === expected.length && timingSafeEqual(given, expected) ? key : undefined
  }
}

function cookieValue (header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** Where a page asked for sends the person back after signing in: console paths only. */
export function nextPath (given: unknown): string {
  return typeof given === 'string' && /^\/console(?:\/[\w/-]*)?$/.test(given) ? given : '/console'
}

export function signInRedirect (req: FastifyRequest, reply: FastifyReply) {
  return reply.redirect(`/console/sign-in?next=${encodeURIComponent(req.url.split('?')[0]!)}`, 303)
}
