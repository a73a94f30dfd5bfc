import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import fp from 'fastify-plugin'
import type { z } from 'zod'
import { ApiError, fieldDetail, jsonPointer, toProblem, type ErrorCode, type FieldError } from '../errors.ts'

/** Lets route handlers see the output type of the zod schemas they declare. */
export type { ZodTypeProvider } from 'fastify-type-provider-zod'

declare module 'fastify' {
  interface FastifyReply {
    /** Catalogue code of the error this reply carries, for the request log line and the metrics. */
    problemCode: ErrorCode | undefined
  }
}

// Fastify's own 4xx errors, in catalogue terms, each with a detail that says what to send instead.
const FASTIFY_CODES: Record<string, { code: ErrorCode; detail?: (req: FastifyRequest, err: FastifyError) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', detail: tooLarge },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', detail: notJson },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_BODY', detail: () => 'the body is not as long as Content-Length says' },
  // An id with a broken %-escape, or longer than any id can be (both before routing).
  FST_ERR_BAD_URL: { code: 'INVALID_ID', detail: () => 'the URL holds a broken %-escape' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'INVALID_ID', detail: () => 'an id in the URL is longer than any Genesys id' },
}

/** The URL without its query, which may carry what does not belong in an answer or a log line. */
export const pathOf = (url: string) => url.split('?', 1)[0]!

const bytes = (n: number) => n.toLocaleString('en-US')

function tooLarge (req: FastifyRequest): string {
  const limit = req.routeOptions.bodyLimit
  const at = `at most ${bytes(limit)} bytes (${limit / 1024} KiB)`
  const length = Number(req.headers['content-length'])
  // A chunked body has no length up front: it was cut off once it passed the limit.
  return Number.isInteger(length) && length > limit ? `body is ${bytes(length)} bytes; ${at}` : `body is over the limit: ${at}`
}

export function notJson (req: FastifyRequest): string {
  const given = req.headers['content-type']
  const got = given === undefined ? 'no Content-Type' : `Content-Type ${JSON.stringify(given.slice(0, 100))}`
  return `the body must be JSON, sent as "Content-Type: application/json" (UTF-8); got ${got}`
}

function asApiError (err: FastifyError, req: FastifyRequest): ApiError {
  if (err instanceof ApiError) return err
  const known = FASTIFY_CODES[err.code]
  // Details in our words: a library's own message describes its internals, not the request.
  if (known !== undefined) return new ApiError(known.code, known.detail?.(req, err) ?? `the request was refused (${err.code})`)
  // Some other malformed request Fastify refused: still the caller's, still not a 500.
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new ApiError('BAD_REQUEST', `the request is malformed (${err.code})`)
  return new ApiError('INTERNAL_ERROR', 'unexpected error; it has been logged', { cause: err })
}

/** Every error, Fastify's own included, as a catalogue problem+json. Also Fastify's `frameworkErrors` option. */
export function sendProblem (err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const problem = asApiError(err, req)
  if (problem.code === 'INTERNAL_ERROR') req.log.error({ err }, 'unhandled error')
  else if (problem.code === 'COORDINATION_UNAVAILABLE') req.log.warn({ err: (problem.cause as Error | undefined)?.message }, 'Redis unreachable; answered 503')
  else if (problem.code === 'BAD_REQUEST') req.log.warn({ fastifyCode: err.code }, 'request refused by Fastify; map its code in FASTIFY_CODES')
  reply.problemCode = problem.code
  if (problem.retryAfter !== undefined) reply.header('retry-after', String(problem.retryAfter))
  return reply.status(problem.status).type('application/problem+json').send(toProblem(problem, pathOf(req.url)))
}

const PART = { params: 'path', body: 'body', querystring: 'query', headers: 'header' } as const
const CODE = { path: 'INVALID_ID', body: 'INVALID_BODY', query: 'INVALID_QUERY', header: 'INVALID_HEADER' } as const

function fieldErrors (where: FieldError['in'], issues: readonly z.core.$ZodIssue[]): FieldError[] {
  const errors: FieldError[] = []
  const unknown = where === 'query' ? 'is not one this route takes' : 'unknown field'
  for (const issue of issues) {
    // One entry per unknown key, pointing at the key itself, reads better than one at its parent.
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ in: where, path: jsonPointer([...issue.path, key]), message: unknown })
    } else {
      errors.push({ in: where, path: jsonPointer(issue.path), message: issue.message })
    }
  }
  return errors
}

/**
 * Validates each request part with its zod schema and hands the handler the parsed (normalized)
 * value. A failure becomes a catalogue error that lists every offending field by JSON Pointer.
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
    (value) => {
      const result = schema.safeParse(value)
      // Headers are checked, not replaced: the handler and the hooks still see every header.
      if (result.success) return httpPart === 'headers' ? {} : { value: result.data }
      const where = PART[httpPart as keyof typeof PART] ?? 'body'
      const errors = fieldErrors(where, result.error.issues)
      return { error: new ApiError(CODE[where], fieldDetail(errors), { errors }) }
    }

// What a route can be asked to do; HEAD comes with every GET.
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/**
 * Errors as RFC 9457 problems with a catalogue code: validation by the routes' zod schemas,
 * Fastify's own refusals, a path that exists under other methods (405 with `Allow`), no route.
 */
export default fp(
  async (app) => {
    app.decorateReply('problemCode', undefined)
    app.setValidatorCompiler(validatorCompiler)
    // Response schemas are there to describe the API; answers are plain JSON.stringify.
    app.setSerializerCompiler(() => (data) => JSON.stringify(data))
    app.setErrorHandler(sendProblem)
    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0]!
      const allow = METHODS.filter((method) => app.findRoute({ method, url: path }) !== null)
      if (allow.length > 0) {
        // RFC 9110: a 405 names the methods the resource does have.
        reply.header('allow', allow.join(', '))
        throw new ApiError('METHOD_NOT_ALLOWED', `${path} takes ${allow.join(', ')}, not ${req.method}`, { extra: { allow } })
      }
      throw new ApiError('ROUTE_NOT_FOUND', `no route for ${req.method} ${path}`)
    })
  },
  { name: 'problems' }
)
