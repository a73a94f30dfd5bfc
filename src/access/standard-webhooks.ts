import { timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { Webhook } from 'standardwebhooks'

/** What is wrong with a request's signature, and in which header. */
export interface Refusal {
  header: string
  why: string
}

export const WEBHOOK_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const
export const WEBHOOK_FORM = 'webhook-id, webhook-timestamp and webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">'
/**
 * The specification's (and its reference library's) tolerance, either way; X-Signature uses the
 * same, and the replay store remembers a signature this long: one number for all three.
 */
export const TOLERANCE_S = 300
/** One entry of the space-separated list; other versions (v1a: asymmetric) are ignored, as the specification says. */
const V1 = /^v1,([A-Za-z0-9+/]+={0,2})$/

/** Whether a request speaks Standard Webhooks: any one of its headers is enough to be told what is missing. */
export const isStandardWebhook = (headers: IncomingHttpHeaders) => WEBHOOK_HEADERS.some((h) => headers[h] !== undefined)

/**
 * Standard Webhooks (standardwebhooks.com), keyed by a `whsec_` secret. The reference library
 * computes the signature; the checks around it are ours so that each refusal names its header
 * and reason, and so that "now" can be a test's clock.
 */
export function checkStandardWebhook (webhook: Webhook, headers: IncomingHttpHeaders, body: string, nowMs: number): Refusal | undefined {
  const [id, timestamp, signature] = WEBHOOK_HEADERS.map((h) => headers[h])
  for (const [i, value] of [id, timestamp, signature].entries()) {
    if (typeof value !== 'string' || value === '') return { header: WEBHOOK_HEADERS[i]!, why: `missing; a Standard Webhooks sender sends ${WEBHOOK_FORM}` }
  }
  if (!/^\d{1,12}$/.test(timestamp as string)) return { header: 'webhook-timestamp', why: 'must be unix seconds' }
  const t = Number(timestamp)
  const now = Math.floor(nowMs / 1000)
  if (now - t > TOLERANCE_S) return { header: 'webhook-timestamp', why: `is more than ${TOLERANCE_S} s in the past; a redelivery must be signed anew` }
  if (t - now > TOLERANCE_S) return { header: 'webhook-timestamp', why: `is more than ${TOLERANCE_S} s in the future; check the sender's clock` }
  // As the reference library does: any one valid entry passes, whatever else the list holds.
  const offered = (signature as string).split(' ').filter((entry) => V1.test(entry))
  if (offered.length === 0) return { header: 'webhook-signature', why: 'has no v1,<base64 HMAC-SHA256> entry; it is a space-separated list of them' }
  const expected = Buffer.from(webhook.sign(id as string, new Date(t * 1000), body).slice('v1,'.length))
  const matches = (entry: string) => {
    const given = Buffer.from(entry.slice('v1,'.length))
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
  if (!offered.some(matches)) {
    return { header: 'webhook-signature', why: 'no signature matches; sign "<webhook-id>.<webhook-timestamp>.<body>" over the exact bytes sent, with the whsec_ secret for this API key' }
  }
  return undefined
}

export { Webhook }
