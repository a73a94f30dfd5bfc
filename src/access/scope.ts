import type { FastifyRequest } from 'fastify'
import { ApiError, jsonPointer } from '../errors.ts'
import { OPERATIONS, type Operation, type Scope } from '../domain.ts'

/**
 * What one API key may do (API_KEYS_FILE): which operations, and which attribute names, by glob
 * patterns, for writes and reads alike. A key from API_KEYS may do everything.
 *
 * - write: synchronous writes (dry runs included); async: writes with `Prefer: respond-async`
 *   and reading their state at /updates; read: GET …/data; console: signing in to /console.
 * - A pattern's `*` stands for any run of characters, `?` for one; everything else is literal.
 */
export const EVERYTHING: Scope = { may: OPERATIONS, attributes: ['*'] }

declare module 'fastify' {
  interface FastifyRequest {
    /** What the caller's key may do, when it was given limits (API_KEYS_FILE); see scopeOf. */
    scope: Scope | undefined
  }
}

/** A glob as the one RegExp its patterns make; undefined when every name matches. */
const compiled = new WeakMap<Scope, RegExp | undefined>()

const escape = (literal: string) => literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

function matcher (scope: Scope): RegExp | undefined {
  if (compiled.has(scope)) return compiled.get(scope)
  const re = scope.attributes.includes('*')
    ? undefined
    : new RegExp(`^(?:${scope.attributes.map((p) => p.split(/([*?])/).map((part) => (part === '*' ? '.*' : part === '?' ? '.' : escape(part))).join('')).join('|')})$`, 'su')
  compiled.set(scope, re)
  return re
}

/** Whether a key with this scope may see and set the attribute `name`. */
export function allows (scope: Scope, name: string): boolean {
  return matcher(scope)?.test(name) ?? true
}

/** What is wrong with a pattern, for start-up; undefined when it is good. */
export function patternProblem (pattern: unknown): string | undefined {
  if (typeof pattern !== 'string' || pattern === '') return 'must be a non-empty string'
  // eslint-disable-next-line no-control-regex -- an attribute name can hold none of these
  if (/[\s\x00-\x1f\x7f]/.test(pattern)) return 'holds whitespace or a control character, which no attribute name can'
  // Other globs' syntax would be taken literally here, and silently match nothing.
  if (/[[\]{}!\\]/.test(pattern)) return 'may use only * (any characters) and ? (one character) as wildcards; [ ] { } ! \\ are not supported'
  return undefined
}

/** What the request's key may do: everything from API_KEYS, or with authentication off. */
export const scopeOf = (req: FastifyRequest): Scope => req.scope ?? EVERYTHING

/** Refuses the request unless its key may do `operation`. */
export function requireOperation (req: FastifyRequest, operation: Operation, hint = ''): void {
  const { may } = scopeOf(req)
  if (may.includes(operation)) return
  throw new ApiError('OPERATION_NOT_ALLOWED', `API key "${req.caller}" may not ${operation}; it may ${may.join(', ')}${hint}`)
}

/** Refuses a write naming any attribute outside the key's patterns, naming every one. */
export function requireAttributes (req: FastifyRequest, field: string, names: readonly string[]): void {
  const scope = scopeOf(req)
  const refused = names.filter((n) => !allows(scope, n))
  if (refused.length === 0) return
  throw new ApiError('ATTRIBUTE_NOT_ALLOWED', `API key "${req.caller}" may set only attributes matching ${scope.attributes.join(', ')}; not ${refused.join(', ')}; nothing was written`, {
    errors: refused.map((n) => ({ in: 'body', path: jsonPointer([field, n]), message: `not among the attributes API key "${req.caller}" may set` })),
  })
}

/** Only the attributes a key may see. */
export function visible (scope: Scope, attributes: Record<string, string>): Record<string, string> {
  return matcher(scope) === undefined ? attributes : Object.fromEntries(Object.entries(attributes).filter(([k]) => allows(scope, k)))
}
