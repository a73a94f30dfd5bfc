import type { IncomingHttpHeaders } from 'node:http'
import fp from 'fastify-plugin'
import type { ApiKey } from '../config.js'
import { ApiError } from '../errors.js'
import { checkStandardWebhook, isStandardWebhook, Webhook, WEBHOOK_FORM, type Refusal } from './signatures/standard-webhooks.js'
import { checkXSignature, X_SIGNATURE, X_SIGNATURE_FORM } from './signatures/x-signature.js'

export { sign, X_SIGNATURE as SIGNATURE_HEADER } from './signatures/x-signature.js'

/** Standard Webhooks secrets are the key's bytes in base64 after this prefix. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_'

function refuse (refusals: Refusal[], detail = `${refusals[0]!.header}: ${refusals[0]!.why}`): ApiError {
  return new ApiError('SIGNATURE_INVALID', detail, { errors: refusals.map((r) => ({ in: 'header', path: `/${r.header}`, message: r.why })) })
}

export interface SignatureOptions {
  /** API_KEYS, with the signing secrets of SIGNING_SECRETS. */
  keys: readonly ApiKey[]
  now?: () => number
}

interface Secret {
  text: string
  /** Only for a whsec_ secret: what Standard Webhooks signatures are checked with. */
  webhook?: Webhook
}

/**
 * For callers whose API key has a signing secret, every request with a body must carry a fresh
 * signature over the exact bytes sent, so a leaked key alone cannot write, and a captured
 * request cannot be replayed after five minutes. The scheme is the one whose headers are
 * present: X-Signature (ours), else Standard Webhooks. Runs after auth, which names the caller.
 */
export default fp<SignatureOptions>(
  async (app, { keys, now = Date.now }) => {
    const secrets = new Map<string, Secret>()
    for (const { name, signingSecret: text } of keys) {
      if (text !== undefined) secrets.set(name, { text, ...(text.startsWith(WEBHOOK_SECRET_PREFIX) && { webhook: new Webhook(text) }) })
    }
    if (secrets.size === 0) return

    function check (secret: Secret, caller: string, headers: IncomingHttpHeaders, body: string): ApiError | undefined {
      const xSignature = headers[X_SIGNATURE]
      if (typeof xSignature === 'string') {
        const refusal = checkXSignature(xSignature, secret.text, body, now())
        return refusal && refuse([refusal])
      }
      if (!isStandardWebhook(headers)) {
        const standard = `(Standard Webhooks, with a ${WEBHOOK_SECRET_PREFIX} secret) ${WEBHOOK_FORM}`
        return refuse(
          [{ header: X_SIGNATURE, why: `missing: ${X_SIGNATURE_FORM}` }, { header: 'webhook-signature', why: `missing: ${standard}` }],
          `${X_SIGNATURE} or webhook-signature: required for API key "${caller}": X-Signature: ${X_SIGNATURE_FORM}, or ${standard}`
        )
      }
      if (secret.webhook === undefined) {
        return refuse([{ header: 'webhook-signature', why: `API key "${caller}" has no ${WEBHOOK_SECRET_PREFIX} secret in SIGNING_SECRETS; sign with X-Signature: ${X_SIGNATURE_FORM}` }])
      }
      const problem = checkStandardWebhook(secret.webhook, headers, body, now())
      return problem && refuse([problem])
    }

    app.addHook('preValidation', (req, _reply, done) => {
      const secret = req.caller === undefined ? undefined : secrets.get(req.caller)
      if (secret === undefined || req.method === 'GET') return done()
      done(check(secret, req.caller!, req.headers, req.rawBody))
    })
  },
  { name: 'signature', dependencies: ['auth', 'raw-json'] }
)
