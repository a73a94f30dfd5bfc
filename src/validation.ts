import type { FastifySchemaCompiler, FastifyTypeProvider } from 'fastify'
import type { z } from 'zod'
import { ApiError, jsonPointer, type FieldError } from './errors.js'

/** Lets route handlers see the output type of the zod schemas they declare. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown
}

const PART = { params: 'path', body: 'body', headers: 'header' } as const

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
    if (result.success) return { value: result.data }
    const where = PART[httpPart as keyof typeof PART] ?? 'body'
    const errors = fieldErrors(where, result.error.issues)
    const first = errors[0]
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
    const detail = `${first?.path || where}: ${first?.message}${more}`
    const code = where === 'path' ? 'INVALID_ID' : where === 'header' ? 'INVALID_HEADER' : 'INVALID_BODY'
    return { error: new ApiError(code, detail, { errors }) }
  }
