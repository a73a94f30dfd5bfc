import { z } from 'zod'
import type { Attributes } from '../domain.ts'

export interface AttributeLimits {
  maxAttributes: number
  maxValueLength: number
}

const MAX_KEY_LENGTH = 256
// Keys that would reach Object.prototype if any code ever assigned them into a plain object.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const WHITESPACE_OR_CONTROL = /[\s\p{Cc}]/u
// Invisible in a name, so two names that read the same would be two attributes: every
// Default_Ignorable_Code_Point (zero-width characters, the soft hyphen, variation selectors, tags,
// Hangul fillers, invisible operators) and every Bidi_Control (marks, embeddings, overrides,
// isolates, the Arabic letter mark), by Unicode's own properties rather than a list of ours.
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

/** The first character from which `key` stops reading as its `form` does. */
function firstChanged (key: string, form: 'NFC' | 'NFKC'): string {
  let prefix = ''
  for (const c of key) {
    prefix += c
    if (prefix.normalize(form) !== prefix) return c
  }
  return [...key].at(-1)!
}

/** Unicode code points: what a reader counts as characters (an emoji is one, not two UTF-16 units). */
export function codePoints (s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) n--
  }
  return n
}

function keyProblem (key: string): string | undefined {
  if (key.length === 0) return 'attribute name is empty'
  if (key.length > MAX_KEY_LENGTH && codePoints(key) > MAX_KEY_LENGTH) return `attribute name is ${codePoints(key)} characters (Unicode code points) long; at most ${MAX_KEY_LENGTH}`
  const invisible = INVISIBLE.exec(key)?.[0]
  if (invisible !== undefined) {
    return `attribute name contains ${codePoint(invisible)}, an invisible character (a default-ignorable or bidirectional formatting character): a name that reads the same would be another name`
  }
  // A name that reads the same as another must be the same name: one spelling only.
  if (key.normalize('NFC') !== key) {
    return `attribute name is not in Unicode NFC form at ${codePoint(firstChanged(key, 'NFC'))} (a character that composes with the one before it): send the composed form`
  }
  if (key.normalize('NFKC') !== key) {
    return `attribute name contains ${codePoint(firstChanged(key, 'NFKC'))}, a compatibility variant of another character (fullwidth, ligature, superscript…): send the plain character`
  }
  if (WHITESPACE_OR_CONTROL.test(key)) return 'attribute name contains whitespace or a control character'
  if (FORBIDDEN_KEYS.has(key)) return `attribute name "${key}" is reserved`
  return undefined
}

/**
 * The attribute map a caller sends, normalized to what Genesys stores: numbers and booleans
 * become their string form, null becomes "" (the only portable way to clear a key). A number
 * whose string form would differ from what the caller wrote arrives here as that text already
 * (http/raw-json.ts), so no digit is lost. Written by
 * hand rather than with z.record because z.record silently drops a `__proto__` key, and a
 * dropped key is a lost update. Messages name keys, never values (values may be personal data).
 */
export function attributeMap (limits: AttributeLimits) {
  return z.unknown().transform((input, ctx): Attributes => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.addIssue({ code: 'custom', message: 'must be an object mapping attribute names to values' })
      return z.NEVER
    }
    const keys = Object.keys(input)
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'must hold at least one attribute' })
    if (keys.length > limits.maxAttributes) {
      ctx.addIssue({ code: 'custom', message: `holds ${keys.length} attributes; at most ${limits.maxAttributes} per request` })
    }
    // A plain object is safe here (the keys that could reach a prototype are refused below, never set),
    // and much cheaper to copy than a null-prototype one, which V8 keeps in dictionary mode, so
    // Object.assign from it is slow (BENCHMARKS.md has the measurement).
    const out: Attributes = {}
    for (const key of keys) {
      const problem = keyProblem(key)
      if (problem) {
        ctx.addIssue({ code: 'custom', path: [key], message: problem })
        continue
      }
      const value = (input as Record<string, unknown>)[key]
      if (typeof value === 'string') {
        // A string never has fewer UTF-16 units than code points, so most skip the count.
        if (value.length > limits.maxValueLength && codePoints(value) > limits.maxValueLength) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `value is ${codePoints(value)} characters (Unicode code points) long; at most ${limits.maxValueLength}`,
          })
        }
        out[key] = value
      } else if (typeof value === 'number' || typeof value === 'boolean') {
        out[key] = String(value)
      } else if (value === null) {
        out[key] = ''
      } else {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `value is ${Array.isArray(value) ? 'an array' : 'an object'}; values must be strings, numbers, booleans or null`,
        })
      }
    }
    return out
  })
}

export interface UpdateBody {
  attributes: Attributes
  /** Which member held them, for pointers into the body. */
  field: 'attributes' | 'data'
  participantId: string | undefined
  /** Conversation-level writes only: which participant, by purpose (customer, external, agent…). */
  purpose: string | undefined
}

/**
 * `{"attributes": {...}}`, or `{"data": {...}}` as some CRMs send it, optionally with a
 * `participantId` the route checks against its path. Unknown top-level fields are rejected so a
 * typo such as `atributes` is reported instead of writing nothing.
 */
export function updateBody (limits: AttributeLimits, opts: { purpose?: boolean } = {}) {
  const map = attributeMap(limits).meta(ATTRIBUTE_MAP_DOC)
  return z
    .object({
      attributes: map.optional(),
      data: map.optional().describe('The same as attributes, for CRMs that send it under this name'),
      participantId: genesysId.optional().describe(opts.purpose ? 'Write to this participant' : 'Must match the participant id in the URL'),
      ...(opts.purpose && {
        purpose: z
          .string()
          .regex(/^[A-Za-z]{1,32}$/, 'must be a participant purpose such as customer, external or agent')
          .transform((p) => p.toLowerCase())
          .optional()
          .describe('Write to the one participant with this purpose; default: the customer, else the external participant'),
      }),
    })
    .strict()
    .transform((body, ctx): UpdateBody => {
      if (body.attributes !== undefined && body.data !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['data'], message: 'send either "attributes" or "data", not both' })
        return z.NEVER
      }
      const attributes = body.attributes ?? body.data
      if (attributes === undefined) {
        ctx.addIssue({ code: 'custom', path: ['attributes'], message: 'required: an object of attribute names to values' })
        return z.NEVER
      }
      const purpose = 'purpose' in body ? (body.purpose as string | undefined) : undefined
      if (purpose !== undefined && body.participantId !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['purpose'], message: 'send either "purpose" or "participantId", not both' })
        return z.NEVER
      }
      return { attributes, field: body.attributes === undefined ? 'data' : 'attributes', participantId: body.participantId, purpose }
    })
}

/** What the documentation shows for an attribute map; validation is the code above. */
const ATTRIBUTE_MAP_DOC = {
  type: 'object',
  description:
    'Attribute names to values. Strings are kept; numbers become strings exactly as written (98765432109876543210, 1.50 and 1e3 stay so); booleans become "true" or "false"; null clears the key.',
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
  examples: [{ customer_tier: 'gold', visits: 3, old_note: null }],
} as const

/** Genesys ids are UUIDs. Lower-cased so one conversation never gets two queues by case alone. */
export const genesysId = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a Genesys id: a UUID such as 3f2c9a4e-0b1d-4c5e-9f6a-7b8c9d0e1f2a')
  .transform((id) => id.toLowerCase())
