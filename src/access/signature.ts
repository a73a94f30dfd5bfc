import { systemClock, type Clock } from '../clock.ts'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError, coordinationUnavailable } from '../errors.ts'
import type { ReplayStore } from '../coordination/index.ts'
import { checkStandardWebhook, isStandardWebhook, TOLERANCE_S, Webhook, WEBHOOK_FORM, type Refusal } from './standard-webhooks.ts'
import { checkXSignature, parseXSignature, X_SIGNATURE, X_SIGNATURE_FORM } from './x-signature.ts'
import type { ApiKey } from '../domain.ts'

export { sign, X_SIGNATURE as SIGNATURE_HEADER } from './x-signature.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The checked signature (its scheme and value), which stands for an Idempotency-Key when there is none. */
    signature: string | undefined
  }
}

/** Standard Webhooks secrets are the key's bytes in base64 after this prefix. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_'

function refuse (refusals: Refusal[], detail = `${refusals[0]!.header}: ${refusals[0]!.why}`): ApiError {
  return new ApiError('SIGNATURE_INVALID', detail, { errors: refusals.map((r) => ({ in: 'header', path: `/${r.header}`, message: r.why })) })
}

export interface SignatureOptions {
  /** API_KEYS, with the signing secrets of SIGNING_SECRETS. */
  keys: readonly ApiKey[]
  clock?: Clock
  /** Where a signature's first use is kept: in Redis, it counts once across replicas (src/coordination/). */
  replays: ReplayStore
}

/** What identifies a checked signature, and the unix second it was made at. */
function signatureOf (headers: IncomingHttpHeaders): [id: string, t: number] {
  const xSignature = headers[X_SIGNATURE]
  if (typeof xSignature === 'string') {
    const { t, v1 } = parseXSignature(xSignature)! // checked already
    return [`x-signature ${v1}`, t]
  }
  // A sender's redelivery has the same id, signed anew: it is the message, not the signature, that counts once.
  return [`webhook-id ${headers['webhook-id'] as string}`, Number(headers['webhook-timestamp'])]
}

interface Secret {
  text: string
  /** Only for a whsec_ secret: what Standard Webhooks signatures are checked with. */
  webhook?: Webhook
}

/**
 * For callers whose API key has a signing secret, every request with a body must carry a fresh
 * signature over the exact bytes sent, so a leaked key alone cannot write, and a captured
 * request cannot be replayed after five minutes. Within them a signature counts once: for the
 * method, URL and Idempotency-Key it first came with (src/coordination/replays.ts), where a
 * byte-identical retry gets the first answer (idempotency/). The scheme is the one whose headers are present: X-Signature
 * (ours), else Standard Webhooks. Runs after auth, which names the caller.
 */
export default fp<SignatureOptions>(
  async (app, { keys, clock: time = systemClock, replays }) => {
    const clock = time.now
    const secrets = new Map<string, Secret>()
    for (const { name, signingSecret: text } of keys) {
      if (text !== undefined) secrets.set(name, { text, ...(text.startsWith(WEBHOOK_SECRET_PREFIX) && { webhook: new Webhook(text) }) })
    }
    app.decorateRequest('signature', undefined)
    if (secrets.size === 0) return

    /**
     * A signature counts once: for the first method, URL and Idempotency-Key it came with. With
     * any other (a new Idempotency-Key included, which would otherwise open a second write of an
     * old value) it writes nothing. The same ones again are a retry, which idempotency answers.
     */
    async function countOnce (req: FastifyRequest): Promise<void> {
      const [id, t] = signatureOf(req.headers)
      const key = req.headers['idempotency-key']
      const request = `${req.method} ${req.url}${typeof key === 'string' ? `\nIdempotency-Key: ${key}` : ''}`
      let first: string
      try {
        first = await replays.first(`${req.caller}\n${id}`, request, (t + TOLERANCE_S + 1) * 1000 - clock())
      } catch (err) {
        throw coordinationUnavailable(err)
      }
      if (first !== request) {
        // Where it was first used is not said: that request may not have been this caller's to know of.
        throw new ApiError('SIGNATURE_REPLAYED', 'this signature was already used for another request; it counts once: sign each request anew', {
          errors: [{ in: 'header', path: `/${id.split(' ')[0]}`, message: 'already used with another method, URL or Idempotency-Key' }],
        })
      }
      req.signature = id
    }

    function check (secret: Secret, caller: string, headers: IncomingHttpHeaders, body: string): ApiError | undefined {
      const xSignature = headers[X_SIGNATURE]
      if (typeof xSignature === 'string') {
        const refusal = checkXSignature(xSignature, secret.text, body, clock())
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
      const problem = checkStandardWebhook(secret.webhook, headers, body, clock())
      return problem && refuse([problem])
    }

    app.addHook('preValidation', (req, _reply, done) => {
      const secret = req.caller === undefined ? undefined : secrets.get(req.caller)
      if (secret === undefined || req.method === 'GET') return done()
      const refused = check(secret, req.caller!, req.headers, req.rawBody)
      if (refused) return done(refused)
      countOnce(req).then(() => done(), done)
    })
  },
  { name: 'signature', dependencies: ['auth', 'raw-json'] }
)
