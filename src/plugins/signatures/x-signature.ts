import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Refusal } from './standard-webhooks.js'

export const X_SIGNATURE = 'x-signature'
export const X_SIGNATURE_FORM = 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">'
/** A signature older than this (or this far in the future) is refused: a replayed request. */
const TOLERANCE_S = 300

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, as webhook providers sign. */
export function sign (secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
}

/** The service's own scheme: the whole secret, as text, is the HMAC key. */
export function checkXSignature (header: string, secret: string, body: string, nowMs: number): Refusal | undefined {
  const refuse = (why: string): Refusal => ({ header: X_SIGNATURE, why })
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]))
  const t = Number(parts.t)
  if (!/^\d{1,12}$/.test(parts.t ?? '') || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) return refuse('must be t=<unix seconds>,v1=<64 hex digits>')
  if (Math.abs(nowMs / 1000 - t) > TOLERANCE_S) return refuse(`timestamp is more than ${TOLERANCE_S} s away from now; sign each request when sending it`)
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest()
  if (!timingSafeEqual(expected, Buffer.from(parts.v1!, 'hex'))) return refuse('does not match the body; sign the exact bytes sent, with the secret for this API key')
  return undefined
}
