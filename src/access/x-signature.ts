import { createHmac, timingSafeEqual } from 'node:crypto'
import { TOLERANCE_S, type Refusal } from './standard-webhooks.ts'

export const X_SIGNATURE = 'x-signature'
export const X_SIGNATURE_FORM = 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">'

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, as webhook providers sign. */
export function sign (secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
}

/**
 * `t` and `v1`, each once, and nothing else. One reading for the check and for the replay store:
 * were a second `v1` allowed, the one checked and the one remembered could differ, and a captured
 * request with a made-up first `v1` would count as new every time.
 */
export function parseXSignature (header: string): { t: number; v1: string } | undefined {
  const parts = header.split(',').map((p) => p.trim().split('='))
  const fields = new Map(parts.map(([name, value]) => [name, value]))
  const t = fields.get('t')
  const v1 = fields.get('v1')
  if (parts.length !== 2 || fields.size !== 2 || parts.some((p) => p.length !== 2)) return undefined
  if (!/^\d{1,12}$/.test(t ?? '') || !/^[0-9a-f]{64}$/.test(v1 ?? '')) return undefined
  return { t: Number(t), v1: v1! }
}

/** The service's own scheme: the whole secret, as text, is the HMAC key. */
export function checkXSignature (header: string, secret: string, body: string, nowMs: number): Refusal | undefined {
  const refuse = (why: string): Refusal => ({ header: X_SIGNATURE, why })
  const parsed = parseXSignature(header)
  if (parsed === undefined) return refuse('must be t=<unix seconds>,v1=<64 hex digits>, each once')
  const { t, v1 } = parsed
  if (Math.abs(nowMs / 1000 - t) > TOLERANCE_S) return refuse(`timestamp is more than ${TOLERANCE_S} s away from now; sign each request when sending it`)
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest()
  if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) return refuse('does not match the body; sign the exact bytes sent, with the secret for this API key')
  return undefined
}
