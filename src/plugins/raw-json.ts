import fp from 'fastify-plugin'
import { ApiError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as received, before parsing. */
    rawBody: string
  }
}

type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown

/**
 * A number whose shortest string form is not what the caller wrote (98765432109876543210,
 * 1.50, 1e3, -0, 1e400) becomes the text the caller wrote: no value is changed on its way
 * through (Genesys stores strings anyway). Node 24's reviver is given each value's source text.
 */
const keepNumberSource: Reviver = (_key, value, context) =>
  typeof value === 'number' && context.source !== undefined && String(value) !== context.source ? context.source : value

/** Whether a number sits where bodies here can hold one: a top-level value, or a value of a top-level map. */
function holdsNumber (body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return typeof body === 'number'
  for (const value of Object.values(body)) {
    if (typeof value === 'number') return true
    if (typeof value === 'object' && value !== null && Object.values(value).some((v) => typeof v === 'number')) return true
  }
  return false
}

function parse (text: string): unknown {
  const body: unknown = JSON.parse(text)
  // Most bodies hold only strings: they pay for one plain parse. A body with a number is
  // parsed again, with the reviver, which is slower. Deeper values are refused by validation.
  return holdsNumber(body) ? JSON.parse(text, keepNumberSource as Parameters<typeof JSON.parse>[1]) : body
}

/**
 * application/json is the one body type, parsed into `request.body` and kept as sent in
 * `request.rawBody` for signature checks and idempotency fingerprints. Every other type
 * (text/plain included, which Fastify parses by default) is 415 UNSUPPORTED_MEDIA_TYPE.
 */
export default fp(
  async (app) => {
    app.decorateRequest('rawBody', '')
    app.removeAllContentTypeParsers()
    // JSON.parse (not secure-json-parse) so `__proto__` and `constructor` reach validation as
    // ordinary keys and are rejected by name, and so a syntax error says where it is.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, text, done) => {
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]
      // JSON is UTF-8 (RFC 8259); read as anything else, a value would change.
      if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
        return done(new ApiError('UNSUPPORTED_MEDIA_TYPE', `JSON must be UTF-8; got charset=${charset.slice(0, 40)}`), undefined)
      }
      if (text === '') return done(new ApiError('INVALID_BODY', 'body is empty; send a JSON object'), undefined)
      req.rawBody = text as string
      try {
        done(null, parse(text as string))
      } catch (err) {
        done(new ApiError('INVALID_BODY', `body is not valid JSON: ${(err as Error).message}`), undefined)
      }
    })
  },
  { name: 'raw-json' }
)
