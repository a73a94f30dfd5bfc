import { ApiError, type ErrorCode, type UpstreamDetail } from '../errors.ts'
import { UpstreamError } from '../genesys/index.ts'

function codeFor (err: UpstreamError): ErrorCode {
  const { operation: op, status } = err
  if (err.kind === 'malformed') return op === 'token' ? 'UPSTREAM_AUTH_FAILED' : 'UPSTREAM_ERROR'
  if (err.mayHaveLanded) return 'UPSTREAM_OUTCOME_UNKNOWN'
  if (status === undefined) return 'UPSTREAM_ERROR'
  if (status === 429) return 'UPSTREAM_RATE_LIMITED'
  // The login endpoint answers 400 invalid_client as readily as 401.
  if (status === 401 || status === 403 || (op === 'token' && status === 400)) return 'UPSTREAM_AUTH_FAILED'
  if (op === 'token') return 'UPSTREAM_ERROR'
  if (status === 404) return op === 'getConversation' ? 'CONVERSATION_NOT_FOUND' : 'PARTICIPANT_NOT_FOUND'
  if (status === 409) return 'UPSTREAM_CONFLICT'
  // 408: Genesys gave up waiting for our request to arrive, so it was not applied.
  if (status === 408) return 'UPSTREAM_ERROR'
  if (status < 500) return 'UPSTREAM_REJECTED'
  return 'UPSTREAM_ERROR'
}

/**
 * What a caller is told about a failure: a Genesys failure becomes the catalogue code that tells
 * the truth about the write, quoting what Genesys said; anything else is already an answer (an
 * ApiError) or a bug (left for the error handler's 500). The one place this mapping is made.
 */
export function toApiError (err: unknown): unknown {
  if (!(err instanceof UpstreamError)) return err
  const code = codeFor(err)
  if (err.kind !== 'answer') return new ApiError(code, err.message, { cause: err })
  const upstream: UpstreamDetail = { status: err.status, correlationId: err.correlationId }
  if (err.genesysCode !== undefined) upstream.code = err.genesysCode
  if (err.genesysMessage !== undefined) upstream.message = err.genesysMessage
  return new ApiError(code, err.message, { upstream, ...(code === 'UPSTREAM_RATE_LIMITED' && { retryAfter: err.retryAfter }), cause: err })
}
