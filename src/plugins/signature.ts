import { createHmac, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { ApiKey } from '../config.js'
import { ApiError } from '../errors.js'

export const SIGNATURE_HEADER = 'x-signature'
/** A signature older than this (or this far in the future) is refused: a replayed request. */
const TOLERANCE_S = 300

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, as webhook providers sign. */
export function sign (secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
}

function refuse (why: string): ApiError {
  return new ApiError('SIGNATURE_INVALID', `${SIGNATURE_HEADER}: ${why}`, { errors: [{ in: 'header', path: `/${SIGNATURE_HEADER}`, message: why }] })
}

export interface SignatureOptions {
  /** API_KEYS, with the signing secrets of SIGNING_SECRETS. */
  keys: readonly ApiKey[]
  now?: () => number
}

/**
 * For callers whose API key has a signing secret, every request with a body must carry a fresh
 * signature over the exact bytes sent, so a leaked key alone cannot write, and a captured
 * request cannot be replayed after five minutes. Runs after auth, which names the caller.
 */
export default fp<SignatureOptions>(
  async (app, { keys, now = Date.now }) => {
    const secrets = new Map(keys.flatMap((k) => (k.signingSecret === undefined ? [] : [[k.name, k.signingSecret] as const])))
    if (secrets.size === 0) return
    app.addHook('preValidation', (req, _reply, done) => {
      const secret = req.caller === undefined ? undefined : secrets.get(req.caller)
      if (secret === undefined || req.method === 'GET') return done()
      const header = req.headers[SIGNATURE_HEADER]
      if (typeof header !== 'string') return done(refuse(`required for API key "${req.caller}": t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`))
      const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]))
      const t = Number(parts.t)
      if (!/^\d{1,12}$/.test(parts.t ?? '') || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) return done(refuse('must be t=<unix seconds>,v1=<64 hex digits>'))
      if (Math.abs(now() / 1000 - t) > TOLERANCE_S) return done(refuse(`timestamp is more than ${TOLERANCE_S} s away from now; sign each request when sending it`))
      const expected = createHmac('sha256', secret).update(`${t}.${req.rawBody}`).digest()
      if (!timingSafeEqual(expected, Buffer.from(parts.v1!, 'hex'))) return done(refuse('does not match the body; sign the exact bytes sent, with the secret for this API key'))
      done()
    })
  },
  { name: 'signature', dependencies: ['auth', 'raw-json'] }
)
