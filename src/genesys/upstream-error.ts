import type { IncomingHttpHeaders } from 'node:http'

export type UpstreamOp = 'token' | 'getConversation' | 'patchAttributes' | 'getLimits'

/**
 * Why a retried failure might not repeat, named for the metrics: the conversation changed (409),
 * the rate limit (429), Genesys failed (5xx), the connection broke, or the token was rejected
 * (401). Whether it is retried is the catalogue's to say (errors.ts), by the code it answers with.
 */
export type Retryable = 'conflict' | 'rate_limited' | 'server' | 'network' | 'token'

/** answer: Genesys answered non-2xx. network: no answer came. malformed: a 2xx that is not what was asked for. */
export type FailureKind = 'answer' | 'network' | 'malformed'

export interface UpstreamErrorInit {
  operation: UpstreamOp
  kind: FailureKind
  /** The HTTP status; undefined when no answer came. */
  status?: number | undefined
  /** Genesys's own code and message (ErrorBody, or the OAuth error), quoted for its support. */
  genesysCode?: string | undefined
  genesysMessage?: string | undefined
  correlationId?: string | undefined
  sent: boolean
  retryAfter?: number | undefined
  cause?: unknown
}

/**
 * A Genesys call that did not succeed, as the wire saw it. What it means to a caller (which
 * catalogue code) is decided once, where callers are answered (updates/answer.ts); whether it is
 * tried again, by that code's catalogue entry (updates/retry.ts).
 */
export class UpstreamError extends Error {
  readonly operation: UpstreamOp
  readonly kind: FailureKind
  readonly status: number | undefined
  readonly genesysCode: string | undefined
  readonly genesysMessage: string | undefined
  readonly correlationId: string | undefined
  /** Some of the request may have reached Genesys; false only when nothing was dispatched. */
  readonly sent: boolean
  /** Seconds Genesys asked us to wait before the next request (a 429's Retry-After). */
  readonly retryAfter: number | undefined

  constructor (message: string, init: UpstreamErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'UpstreamError'
    this.operation = init.operation
    this.kind = init.kind
    this.status = init.status
    this.genesysCode = init.genesysCode
    this.genesysMessage = init.genesysMessage
    this.correlationId = init.correlationId
    this.sent = init.sent
    this.retryAfter = init.retryAfter
  }

  /**
   * A write Genesys may have applied without saying so: it went out, and then no answer came, or
   * a 5xx, which does not say whether Genesys applied it before failing.
   */
  get mayHaveLanded (): boolean {
    return this.operation === 'patchAttributes' && this.sent && this.kind !== 'malformed' && (this.status === undefined || this.status >= 500)
  }
}

function header (headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** A header holding a positive number (Retry-After); undefined when absent or not one. */
export function headerNumber (headers: IncomingHttpHeaders, name: string): number | undefined {
  const v = header(headers, name)
  const n = Number(v)
  return v !== undefined && Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * Genesys sends `Retry-After` in seconds on every 429, and nothing else about its limit (the
 * rate-limit headers were retired in 2021); a short pause when a proxy's 429 lacks it.
 */
export function retryAfter (headers: IncomingHttpHeaders): number {
  return Math.ceil(headerNumber(headers, 'retry-after') ?? 1)
}

/** A non-2xx answer from Genesys, with its ErrorBody (or OAuth error) quoted. */
export function fromResponse (op: UpstreamOp, status: number, headers: IncomingHttpHeaders, body: string): UpstreamError {
  let genesysCode: string | undefined
  let genesysMessage: string | undefined
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>
    const code = parsed.code ?? parsed.error
    const message = parsed.message ?? parsed.error_description ?? parsed.description
    if (typeof code === 'string') genesysCode = code
    if (typeof message === 'string') genesysMessage = message.slice(0, 500)
  } catch {
    // Not JSON (a proxy's HTML page, say): status and correlation id are still worth quoting.
  }
  const said = genesysMessage ? `: ${genesysMessage}` : ''
  return new UpstreamError(`Genesys Cloud answered ${status} to ${op}${said}`, {
    operation: op,
    kind: 'answer',
    status,
    genesysCode,
    genesysMessage,
    correlationId: header(headers, 'inin-correlation-id'),
    sent: true,
    ...(status === 429 && { retryAfter: retryAfter(headers) }),
  })
}

/**
 * The request failed without an HTTP answer: refused, reset, timed out. `sent` is false only when
 * undici never started writing it (a refused connection, a closed or destroyed pool).
 */
export function fromNetwork (op: UpstreamOp, err: unknown, sent: boolean): UpstreamError {
  const code = (err as { code?: string }).code ?? 'UNKNOWN'
  return new UpstreamError(`no answer from Genesys Cloud to ${op} (${code})`, { operation: op, kind: 'network', sent, cause: err })
}

/** A 2xx whose body is not what the operation needs. */
export function malformed (op: UpstreamOp, message: string): UpstreamError {
  return new UpstreamError(message, { operation: op, kind: 'malformed', status: 200, sent: true })
}
