import type { FastifySchemaCompiler } from 'fastify'
import type { z } from 'zod'
import { ApiError, jsonPointer, type FieldError } from './errors.js'

/** Lets route handlers see the output type of the zod schemas they declare. */
export type { ZodTypeProvider } from 'fastify-type-provider-zod'

const PART = { params: 'path', body: 'body', querystring: 'query', headers: 'header' } as const
const CODE = { path: 'INVALID_ID', body: 'INVALID_BODY', query: 'INVALID_QUERY', header: 'INVALID_HEADER' } as const

function fieldErrors(where: FieldError['in'], issues: readonly z.core.$ZodIssue[]): FieldError[] {
  const errors: FieldError[] = []
  for (const issue of issues) {
    // One entry per unknown key, pointing at the key itself, reads better than one at its parent.
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ in: where, path: jsonPointer([...issue.path, key]), message: 'unknown field' })
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
    const first = errors[0]
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
    const detail = `${first?.path || where}: ${first?.message}${more}`
    return { error: new ApiError(CODE[where], detail, { errors }) }
  }
