import fp from 'fastify-plugin'
import { ApiError } from '../errors.ts'
import { invalid, parseJson } from '../json/index.ts'
import { notJson } from './problems.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as received, before parsing. */
    rawBody: string
  }
}

/**
 * application/json is the one body type, parsed strictly (json/parse.ts) into `request.body`
 * and kept as sent in `request.rawBody` for signature checks and idempotency fingerprints.
 * Every other type (text/plain included, which Fastify parses by default), and no type at all,
 * is 415 UNSUPPORTED_MEDIA_TYPE.
 */
export default fp(
  async (app) => {
    app.decorateRequest('rawBody', '')
    app.removeAllContentTypeParsers()
    // JSON.parse (not secure-json-parse) so `__proto__` and `constructor` reach validation as
    // ordinary keys and are rejected by name, and so a syntax error says where it is. Bytes, not
    // a string: Fastify's decoding would repair invalid UTF-8 before it could be refused.
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, bytes, done) => {
      // Compressed bytes decoded as UTF-8 would be refused as "not UTF-8", which sends the caller looking in the wrong place.
      const encoding = req.headers['content-encoding']?.trim()
      if (encoding !== undefined && encoding !== '' && encoding.toLowerCase() !== 'identity') {
        return done(new ApiError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding.slice(0, 40)} is not accepted: send the JSON uncompressed (a request is at most 64 KiB)`), undefined)
      }
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]
      // JSON is UTF-8 (RFC 8259); read as anything else, a value would change.
      if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
        return done(new ApiError('UNSUPPORTED_MEDIA_TYPE', `JSON must be UTF-8; got charset=${charset.slice(0, 40)}`), undefined)
      }
      if (bytes.length === 0) return done(invalid([{ in: 'body', path: '', message: 'is empty; send a JSON object, such as {"attributes":{"customer_tier":"gold"}}' }]), undefined)
      try {
        const { text, value } = parseJson(bytes as Buffer)
        req.rawBody = text
        done(null, value)
      } catch (err) {
        done(err as ApiError, undefined)
      }
    })
    // A POST without a body and without Content-Type never reaches a parser (Fastify leaves the
    // body undefined), so it would be refused by validation as a missing object. Without a
    // Content-Type it is not JSON, whatever its length: 415, as when a body is sent untyped.
    app.addHook('preValidation', async (req) => {
      if (req.body === undefined && req.headers['content-type'] === undefined && req.routeOptions.schema?.body !== undefined) {
        throw new ApiError('UNSUPPORTED_MEDIA_TYPE', notJson(req))
      }
    })
  },
  { name: 'raw-json' }
)
