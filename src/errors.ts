import { z } from 'zod'
import './messages.ts'

/**
 * The error catalogue: every answer that is not 2xx carries one of these codes. Codes are
 * part of the API (flows and CRMs branch on them), so they are never renamed.
 *
 * `retryable`: the same update may pass if sent again later. Genesys or the pipeline was busy,
 * down or unreachable, or the write's fate is unknown (a retry carries the same values, so it is
 * safe); UPSTREAM_AUTH_FAILED too: the credentials are the operator's to fix, and the update is
 * still good once they are. Anything else would fail the same way again. The one place this is
 * decided: the retry policy (updates/retry.ts) reads it for synchronous and asynchronous writes.
 */
export const CATALOGUE = {
  UNAUTHORIZED: { status: 401, title: 'Missing or unknown credentials', retryable: false },
  INVALID_ID: { status: 400, title: 'Malformed conversation or participant id', retryable: false },
  INVALID_BODY: { status: 400, title: 'Request body failed validation', retryable: false },
  INVALID_HEADER: { status: 400, title: 'A request header has an invalid value', retryable: false },
  INVALID_QUERY: { status: 400, title: 'A query parameter has an invalid value', retryable: false },
  BODY_TOO_LARGE: { status: 413, title: 'Request body too large', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Request body must be application/json', retryable: false },
  BAD_REQUEST: { status: 400, title: 'Malformed request', retryable: false },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time; nothing was done', retryable: false },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large', retryable: false },
  HOST_NOT_ALLOWED: { status: 421, title: 'This service does not answer to that Host; nothing was done', retryable: false },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route', retryable: false },
  CONVERSATION_NOT_FOUND: { status: 404, title: 'Conversation not found in Genesys Cloud', retryable: false },
  PARTICIPANT_NOT_FOUND: { status: 404, title: 'Participant not found in the conversation', retryable: false },
  PARTICIPANT_AMBIGUOUS: { status: 409, title: 'Several participants match; name one', retryable: false },
  CONVERSATION_ENDED: { status: 409, title: 'The conversation has ended; attributes not written', retryable: false },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency-Key already used for a different request', retryable: false },
  IDEMPOTENCY_KEY_IN_FLIGHT: { status: 409, title: 'A request with this Idempotency-Key is still being written; not written again', retryable: false },
  SIGNATURE_INVALID: { status: 401, title: 'Request signature missing, wrong or too old', retryable: false },
  OPERATION_NOT_ALLOWED: { status: 403, title: 'This API key may not do this; nothing was done', retryable: false },
  ATTRIBUTE_NOT_ALLOWED: { status: 403, title: 'This API key may not set these attributes; nothing was written', retryable: false },
  CROSS_SITE_REQUEST: { status: 403, title: 'A console form was sent from another site; nothing was done', retryable: false },
  SIGNATURE_REPLAYED: { status: 401, title: 'Request signature already used for another request; not written', retryable: false },
  UPSTREAM_CONFLICT: { status: 409, title: 'Conversation kept changing; attributes not written', retryable: true },
  UPSTREAM_REJECTED: { status: 422, title: 'Genesys Cloud rejected the attributes; not written', retryable: false },
  UPSTREAM_AUTH_FAILED: { status: 502, title: 'Could not authenticate with Genesys Cloud', retryable: true },
  UPSTREAM_RATE_LIMITED: { status: 503, title: 'Genesys Cloud rate limit reached; not written', retryable: true },
  UPSTREAM_ERROR: { status: 502, title: 'Genesys Cloud failed; attributes not written', retryable: true },
  UPSTREAM_OUTCOME_UNKNOWN: { status: 502, title: 'Write sent to Genesys Cloud but no answer came back; it may or may not have been applied', retryable: true },
  RATE_BUDGET_EXHAUSTED: { status: 503, title: 'Genesys Cloud request budget used up for now; not written', retryable: true },
  OVERLOADED: { status: 503, title: 'Too many updates waiting; not written', retryable: true },
  COORDINATION_UNAVAILABLE: { status: 503, title: 'Redis, which replicas coordinate through, is unreachable; not written', retryable: true },
  DEADLINE_EXCEEDED: { status: 504, title: 'Deadline passed before the update could be sent; not written', retryable: true },
  SHUTTING_DOWN: { status: 503, title: 'Service is shutting down; not written', retryable: true },
  INTERNAL_ERROR: { status: 500, title: 'Internal error', retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, title: 'The route does not take this method', retryable: false },
  UPDATE_NOT_FOUND: { status: 404, title: 'No such asynchronous update for this API key (or it settled more than 24 h ago)', retryable: false },
  DELIVERY_EXPIRED: { status: 504, title: 'Asynchronous update not delivered within ASYNC_MAX_AGE_MS; given up', retryable: false },
  UPDATE_NOT_FAILED: { status: 409, title: 'Only a failed asynchronous update can be sent again; nothing was sent', retryable: false },
  UPDATE_VALUES_NOT_KEPT: { status: 409, title: 'This failed asynchronous update\'s values were not kept; send it anew; nothing was sent', retryable: false },
  UPDATE_ALREADY_RETRIED: { status: 409, title: 'This failed asynchronous update was sent again already; not sent a second time', retryable: false },
} as const satisfies Record<string, { status: number; title: string; retryable: boolean }>

export type ErrorCode = keyof typeof CATALOGUE

/** One offending field. `path` is a JSON Pointer into the part of the request named by `in`. */
export interface FieldError {
  in: 'body' | 'path' | 'query' | 'header'
  path: string
  message: string
}

/** What Genesys said, quoted so an operator can take it to Genesys support. */
export interface UpstreamDetail {
  status?: number
  code?: string
  message?: string
  correlationId?: string
}

export interface ApiErrorOptions {
  errors?: FieldError[]
  upstream?: UpstreamDetail
  /** Seconds, sent as `Retry-After`. */
  retryAfter?: number
  /** More members for the problem document (RFC 9457 extensions), e.g. the purposes present. */
  extra?: Record<string, unknown>
  cause?: unknown
}

export class ApiError extends Error {
  readonly code: ErrorCode
  readonly detail: string
  readonly status: number
  readonly errors: FieldError[] | undefined
  readonly upstream: UpstreamDetail | undefined
  readonly retryAfter: number | undefined
  readonly extra: Record<string, unknown> | undefined

  constructor (code: ErrorCode, detail: string, opts: ApiErrorOptions = {}) {
    super(`${code}: ${detail}`, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'ApiError'
    this.code = code
    this.detail = detail
    this.status = CATALOGUE[code].status
    this.errors = opts.errors
    this.upstream = opts.upstream
    this.retryAfter = opts.retryAfter
    this.extra = opts.extra
  }
}

/**
 * At most this many entries in a problem's `errors[]`: a body of thousands of bad names would
 * otherwise get an answer ten times its size. `errorsOmitted` says how many more there were.
 */
export const MAX_FIELD_ERRORS = 50

export function toProblem (err: ApiError, instance: string) {
  const omitted = Math.max(0, (err.errors?.length ?? 0) - MAX_FIELD_ERRORS)
  return {
    title: CATALOGUE[err.code].title,
    status: err.status,
    code: err.code,
    detail: err.detail,
    instance,
    ...(err.errors && { errors: omitted > 0 ? err.errors.slice(0, MAX_FIELD_ERRORS) : err.errors }),
    ...(omitted > 0 && { errorsOmitted: omitted }),
    ...(err.upstream && { upstream: err.upstream }),
    ...err.extra,
  }
}

/**
 * A validation problem's `detail`: its first field, named as a caller would (a query parameter
 * or header by its name, a body field by its JSON Pointer, the body itself as "body"), and how
 * many more `errors` lists.
 */
export function fieldDetail (errors: readonly FieldError[]): string {
  const { in: where, path, message } = errors[0]!
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
  const [name = '', item] = path.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
  if (path === '') return `${where === 'body' ? 'body' : where} ${message}${more}`
  if (where === 'query') return `query parameter ${name}${item !== undefined && /^\d+$/.test(item) ? ` (item ${Number(item) + 1})` : ''}: ${message}${more}`
  if (where === 'header') return `header ${name}: ${message}${more}`
  return `${path}: ${message}${more}`
}

/** RFC 6901: `~` and `/` inside a key are escaped so the pointer stays unambiguous. */
export function jsonPointer (path: readonly PropertyKey[]): string {
  return path.map((p) => '/' + String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('')
}

/**
 * The problem document for one status, with the codes it can carry (by default, the codes the
 * catalogue gives that status): for the API description.
 */
export function problemSchema (status: number, codes = (Object.keys(CATALOGUE) as ErrorCode[]).filter((c) => CATALOGUE[c].status === status)) {
  return z
    .object({
      title: z.string(),
      status: z.literal(status),
      code: z.enum(codes as [ErrorCode, ...ErrorCode[]]).describe(codes.map((c) => `${c}: ${CATALOGUE[c].title}`).join('. ')),
      detail: z.string(),
      instance: z.string(),
      errors: z.array(z.object({ in: z.enum(['body', 'path', 'query', 'header']), path: z.string(), message: z.string() })).max(MAX_FIELD_ERRORS).optional(),
      errorsOmitted: z.number().int().optional().describe(`How many more offending fields there were than the ${MAX_FIELD_ERRORS} listed in errors`),
      upstream: z
        .object({ status: z.number().optional(), code: z.string().optional(), message: z.string().optional(), correlationId: z.string().optional() })
        .optional(),
    })
    .catchall(z.unknown())
    .describe('application/problem+json (RFC 9457)')
}

/** The first request with this key (`header`: the one the caller sent) outlasted this one's deadline. */
export function idempotencyKeyInFlight (header = 'Idempotency-Key'): ApiError {
  return new ApiError('IDEMPOTENCY_KEY_IN_FLIGHT', `a request with this ${header} is still being written; ask again shortly for its answer`, { retryAfter: 1 })
}

/**
 * Redis failed: without it replicas cannot coordinate, so nothing is written. The client's own
 * words (ioredis: "Stream isn't writeable and enableOfflineQueue options is false") are for the
 * log (http/problems.ts), not for a caller, who can do nothing with them.
 */
export function coordinationUnavailable (cause: unknown): ApiError {
  return new ApiError('COORDINATION_UNAVAILABLE', 'Redis, which this service\'s replicas coordinate through, is unreachable; nothing was written; try again shortly', { retryAfter: 1, cause })
}

/**
 * Genesys analytics drops attributes set after a conversation ends, so such a write would be
 * budget spent for nothing, and its caller would believe it landed.
 */
export function conversationEnded (conversationId: string, endTime: string): ApiError {
  return new ApiError('CONVERSATION_ENDED', `conversation ${conversationId} ended at ${endTime}; nothing was written (Genesys keeps no attributes set after the end)`, {
    extra: { endTime },
  })
}

/** GET /updates/{id} and its resend: none of this caller's, or settled more than a day ago. */
export function updateNotFound (): ApiError {
  return new ApiError('UPDATE_NOT_FOUND', 'no asynchronous update with this id was submitted with this API key, or it settled more than 24 h ago')
}

/** The rate budget has no room for this request before its deadline. */
export function rateBudgetExhausted (waitMs: number): ApiError {
  return new ApiError('RATE_BUDGET_EXHAUSTED', `the Genesys Cloud request budget would not allow this write for ${Math.ceil(waitMs / 1000)} s`, {
    retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
  })
}

/** The queue is full, for one conversation or in all. */
export function overloaded (why: string): ApiError {
  return new ApiError('OVERLOADED', `${why}; send it again shortly`, { retryAfter: 1 })
}

/** A write that may have landed and then failed for another reason is still "may have landed". */
export function outcomeUnknown (err: unknown): ApiError {
  if (err instanceof ApiError && err.code === 'UPSTREAM_OUTCOME_UNKNOWN') return err
  const why = err instanceof ApiError ? err.detail : String(err)
  return new ApiError('UPSTREAM_OUTCOME_UNKNOWN', `an earlier attempt of this write got no answer, and the retry failed (${why}); it may or may not have been applied`, {
    cause: err,
  })
}
