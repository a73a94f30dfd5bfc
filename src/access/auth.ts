import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError } from '../errors.ts'
import type { ApiKey, Priority } from '../domain.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Name of the API key the caller presented; undefined when auth is off. */
    caller: string | undefined
    /** The presented key's priority for the Genesys request budget; live when auth is off. */
    priority: Priority
  }
}

const digest = (key: string) => createHash('sha256').update(key).digest()
/** What a key is compared by: its SHA-256, which API_KEYS_FILE may give instead of the key. */
export const digestOf = (k: ApiKey) => (k.keySha256 === undefined ? digest(k.key!) : Buffer.from(k.keySha256, 'hex'))

/**
 * The key a caller presents, in any of the three ways Genesys Data Actions and CRMs can send
 * it: `Authorization: Bearer KEY`, `X-API-Key: KEY`, or Basic auth with KEY as the password
 * (the Data Action `basicAuth` credential type; the user name is ignored).
 */
function presentedKey (req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-key']
  if (typeof header === 'string' && header !== '') return header
  const auth = req.headers.authorization
  if (auth === undefined) return undefined
  const space = auth.indexOf(' ')
  const scheme = auth.slice(0, space).toLowerCase()
  const credentials = auth.slice(space + 1).trim()
  if (scheme === 'bearer') return credentials
  if (scheme === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon === -1 ? undefined : decoded.slice(colon + 1)
  }
  return undefined
}

export interface AuthOptions {
  /** API_KEYS; none turns authentication off. */
  keys: readonly ApiKey[]
}

/**
 * Adds caller authentication to the routes of the context it is registered in. Keys are
 * compared as SHA-256 digests with timingSafeEqual, against every configured key, so neither
 * a key's content nor its position in API_KEYS shows in the answer time.
 */
export default fp<AuthOptions>(
  async (app, { keys }) => {
    const known = keys.map((k) => ({ ...k, digest: digestOf(k) }))
    app.decorateRequest('caller', undefined)
    app.decorateRequest('priority', 'live')
    app.decorateRequest('scope', undefined)
    if (known.length === 0) return

    // Callback style: this runs on every request, and an async hook costs a promise each time.
    app.addHook('onRequest', (req, reply, done) => {
      const key = presentedKey(req)
      let match: (typeof known)[number] | undefined
      if (key !== undefined) {
        const presented = digest(key)
        for (const k of known) if (timingSafeEqual(presented, k.digest)) match ??= k
      }
      if (match === undefined) {
        // RFC 9110: every 401 names the schemes that would work.
        reply.header('www-authenticate', 'Bearer, Basic realm="participant-data"')
        const hint =
          key === undefined
            ? 'send an API key as "Authorization: Bearer KEY", "X-API-Key: KEY" or Basic auth with KEY as the password'
            : 'the API key is not one this service knows'
        return done(new ApiError('UNAUTHORIZED', hint))
      }
      req.caller = match.name
      req.priority = match.priority
      req.scope = match.scope
      done()
    })
  },
  { name: 'auth' }
)
