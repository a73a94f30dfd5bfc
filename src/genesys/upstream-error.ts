import type { IncomingHttpHeaders } from 'node:http'
import { ApiError, type ErrorCode, type Retryable, type UpstreamDetail } from '../errors.js'

export type Operation = 'token' | 'getConversation' | 'patchAttributes'

// Answers that may not repeat. A 5xx is Genesys (or its load balancer) failing, not our request.
const RETRYABLE: Record<number, Retryable> = { 409: 'conflict', 429: 'rate_limited', 500: 'server', 502: 'server', 503: 'server', 504: 'server' }

// Failures that happen before a single byte of the request is sent: the write cannot have landed.
// UND_ERR_CLOSED: the pool was already closed (shutdown) when the request was dispatched.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED'])

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Genesys sends `Retry-After` in seconds; fall back to a short pause when it does not. */
function retryAfter(headers: IncomingHttpHeaders): number {
  const n = Number(header(headers, 'retry-after') ?? header(headers, 'inin-ratelimit-reset'))
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 1
}

function codeFor(op: Operation, status: number): ErrorCode {
  if (status === 429) return 'UPSTREAM_RATE_LIMITED'
  // The login endpoint answers 400 invalid_client as readily as 401.
  if (status === 401 || status === 403 || (op === 'token' && status === 400)) return 'UPSTREAM_AUTH_FAILED'
  if (op === 'token') return 'UPSTREAM_ERROR'
  if (status === 404) return op === 'getConversation' ? 'CONVERSATION_NOT_FOUND' : 'PARTICIPANT_NOT_FOUND'
  if (status === 409) return 'UPSTREAM_CONFLICT'
  // 408: Genesys gave up waiting for our request to arrive, so it was not applied.
  if (status === 408) return 'UPSTREAM_ERROR'
  if (status < 500) return 'UPSTREAM_REJECTED'
  // A 5xx on the write does not say whether Genesys applied it before failing.
  return op === 'patchAttributes' ? 'UPSTREAM_OUTCOME_UNKNOWN' : 'UPSTREAM_ERROR'
}

/** A non-2xx answer from Genesys, with its ErrorBody (or OAuth error) quoted. */
export function fromResponse(op: Operation, status: number, headers: IncomingHttpHeaders, body: string): ApiError {
  const upstream: UpstreamDetail = { status, correlationId: header(headers, 'inin-correlation-id') }
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>
    const code = parsed.code ?? parsed.error
    const message = parsed.message ?? parsed.error_description ?? parsed.description
    if (typeof code === 'string') upstream.code = code
    if (typeof message === 'string') upstream.message = message.slice(0, 500)
  } catch {
    // Not JSON (a proxy's HTML page, say): status and correlation id are still worth quoting.
  }
  const code = codeFor(op, status)
  const said = upstream.message ? `: ${upstream.message}` : ''
  return new ApiError(code, `Genesys Cloud answered ${status} to ${op}${said}`, {
    upstream,
    retryable: RETRYABLE[status],
    ...(code === 'UPSTREAM_RATE_LIMITED' && { retryAfter: retryAfter(headers) }),
  })
}

/** The request failed without an HTTP answer: refused, reset, timed out. */
export function fromNetwork(op: Operation, err: unknown): ApiError {
  const code = (err as { code?: string }).code ?? 'UNKNOWN'
  const sent = !NOT_SENT.has(code)
  const outcome: ErrorCode = op === 'patchAttributes' && sent ? 'UPSTREAM_OUTCOME_UNKNOWN' : 'UPSTREAM_ERROR'
  return new ApiError(outcome, `no answer from Genesys Cloud to ${op} (${code})`, { cause: err, retryable: 'network' })
}
