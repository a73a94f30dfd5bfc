// Validation messages in our words. Every schema that can refuse a caller's request or an
// operator's variable is zod's, and zod's own messages describe its internals ("Invalid input:
// expected number, received NaN"). Schemas with a message of their own keep it; every other
// issue gets a sentence from here, said of the field, which the caller names before it
// ("PORT: must be a whole number from 0 to 65535", "query parameter state: must be failed").
// Imported for its effect by every module that declares schemas users meet (config, errors, sim).
import { z } from 'zod'

type Issue = z.core.$ZodRawIssue

const quote = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))

/** "a or b", "a, b or c". */
export function either (values: readonly unknown[]): string {
  const words = values.map(quote)
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`
}

// JSON's names for its types: what a caller sending JSON, or an operator, knows them by.
const KINDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  bigint: 'a whole number',
  date: 'a date',
}

/** What a value given is, in words, for "must be X, not Y". */
function kindOf (input: unknown): string {
  if (input === undefined) return 'missing'
  if (input === null) return 'null'
  if (Array.isArray(input)) return 'an array'
  if (typeof input === 'object') return 'an object'
  if (typeof input === 'boolean') return input ? 'true' : 'false'
  return `a ${typeof input}`
}

function size (origin: unknown, n: number | bigint): string {
  if (origin === 'string') return `${n} character${n === 1 ? '' : 's'}`
  if (origin === 'array' || origin === 'set') return `${n} item${n === 1 ? '' : 's'}`
  return String(n)
}

const FORMATS: Record<string, string> = {
  url: 'a URL',
  email: 'an email address',
  uuid: 'a UUID',
  guid: 'a UUID',
  regex: 'in the expected form',
  datetime: 'an ISO 8601 date and time',
}

/** Our sentence for an issue, or undefined for one we have no better words for than its schema's. */
export function ourWords (issue: Issue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required'
      const expected = KINDS[issue.expected] ?? issue.expected
      // A coerced number that was not one: what was given is no longer known.
      if (typeof issue.input === 'number' && Number.isNaN(issue.input)) return `must be ${expected}`
      return `must be ${expected}, not ${kindOf(issue.input)}`
    }
    case 'invalid_value':
      return `must be ${either(issue.values)}`
    case 'too_small': {
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty'
      if (issue.origin === 'array' && Number(issue.minimum) === 1) return 'must hold at least one item'
      return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${size(issue.origin, issue.minimum)}`
    }
    case 'too_big':
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${size(issue.origin, issue.maximum)}`
    case 'invalid_format':
      return `must be ${FORMATS[issue.format] ?? `in the ${issue.format} format`}`
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length === 1 ? '' : 's'} ${either(issue.keys)}`
    case 'invalid_union':
      return 'is not any of the forms allowed here'
    case 'invalid_key':
      return 'holds a name that is not allowed'
    case 'invalid_element':
      return 'holds an item that is not allowed'
    case 'custom':
      return 'is not valid here'
    default:
      return undefined
  }
}

// Lower in precedence than any message a schema gives (zod: schema, then per-parse, then this).
z.config({ customError: ourWords })
