import { isUtf8 } from 'node:buffer'
import { ApiError, fieldDetail, jsonPointer, type FieldError } from '../errors.ts'
import { duplicateNames, pathAt } from './scan.ts'

/**
 * JSON bodies, read strictly: no value is changed on its way through, so text that could only
 * be read by changing it is refused, each place named by JSON Pointer, rather than repaired.
 *
 * - Invalid UTF-8: decoding would put U+FFFD where the bytes were.
 * - A lone surrogate (`"\ud800"`): no UTF-8 can carry it, so Genesys would store something else.
 * - A C0 control character other than tab, newline and carriage return (`"\u0000"`).
 * - A name twice in one object: JSON.parse keeps the last and drops the first without a word.
 * - A number JSON's doubles cannot carry exactly is kept as the text the caller wrote.
 *
 * The common body pays for a UTF-8 check, one JSON.parse and a count of names and colons;
 * the slower checks run only when those cannot rule a problem out.
 */
export function parseJson (bytes: Buffer): { text: string; value: unknown } {
  if (!isUtf8(bytes)) throw invalid([notUtf8(bytes)])
  const text = bytes.toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    // The whole body is at fault: its pointer is "" (the root), as for a body that is not an object.
    throw invalid([{ in: 'body', path: '', message: `is not valid JSON: ${(err as Error).message}` }])
  }
  try {
    return { text, value: strict(text, value) }
  } catch (err) {
    // JSON.parse takes any depth the 64 KiB limit lets through; the passes below recurse, and a
    // body of thousands of nested brackets would overflow them. No request nests past three.
    if (err instanceof RangeError) throw invalid([{ in: 'body', path: '', message: 'is nested too deeply; a request is an object of attributes' }])
    throw err
  }
}

function strict (text: string, parsed: unknown): unknown {
  let value = parsed
  if (holdsNumber(value)) value = JSON.parse(text, keepNumberSource as Parameters<typeof JSON.parse>[1])
  // Every colon in the text follows a name or sits inside a string. Without \u escapes (which
  // can write a colon without one in the text), the kept names and their strings' colons
  // account for all of them unless a name was dropped: only then is the text scanned.
  const unicodeEscapes = text.includes('\\u')
  const errors = !unicodeEscapes && colons(text) === namesAndColons(value) ? [] : duplicateNames(text)
  // Lone surrogates and forbidden controls can only be written as escapes.
  if (unicodeEscapes || text.includes('\\b') || text.includes('\\f')) badStrings(value, [], errors)
  if (errors.length > 0) throw invalid(errors)
  return value
}

// C0 controls but tab (09), newline (0a) and carriage return (0d).
// eslint-disable-next-line no-control-regex -- finding them is the point
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f]/
// With the u flag a pair reads as one code point, so only a surrogate without its pair matches.
const LONE_SURROGATE = /\p{Cs}/u

/** INVALID_BODY listing every problem, the first in `detail`. */
export function invalid (errors: FieldError[]): ApiError {
  return new ApiError('INVALID_BODY', fieldDetail(errors), { errors })
}

const hex = (c: string) => 'U+' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')

function textProblem (s: string): string | undefined {
  if (LONE_SURROGATE.test(s)) return 'holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair), which no UTF-8 text can carry'
  const control = CONTROL.exec(s)?.[0]
  if (control !== undefined) return `holds the control character ${hex(control)}; of the C0 controls only tab, newline and carriage return are allowed`
  return undefined
}

function badStrings (value: unknown, path: string[], errors: FieldError[]): void {
  if (typeof value === 'string') {
    const problem = textProblem(value)
    if (problem) errors.push({ in: 'body', path: jsonPointer(path), message: `value ${problem}` })
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      const problem = textProblem(key)
      if (problem) errors.push({ in: 'body', path: jsonPointer([...path, key]), message: `name ${problem}` })
      badStrings(v, [...path, key], errors)
    }
  }
}

/** Where the first byte that is not UTF-8 is: the bytes up to it decode unchanged, so decoding and encoding again differs first there. */
function notUtf8 (bytes: Buffer): FieldError {
  const lossy = bytes.toString('utf8')
  const again = Buffer.from(lossy, 'utf8')
  let at = 0
  while (at < bytes.length && bytes[at] === again[at]) at++
  const path = pathAt(lossy, bytes.toString('utf8', 0, at).length)
  return { in: 'body', path: path === undefined ? '' : jsonPointer(path), message: `holds bytes that are not UTF-8 (at byte ${at}); JSON is UTF-8 (RFC 8259)` }
}

function colons (s: string): number {
  let n = 0
  for (let i = s.indexOf(':'); i !== -1; i = s.indexOf(':', i + 1)) n++
  return n
}

/** Names in every object, at any depth, as JSON.parse kept them, plus the colons in every string kept. */
function namesAndColons (value: unknown): number {
  if (typeof value === 'string') return colons(value)
  if (typeof value !== 'object' || value === null) return 0
  let n = 0
  if (Array.isArray(value)) for (const v of value) n += namesAndColons(v)
  else for (const key in value) n += 1 + colons(key) + namesAndColons((value as Record<string, unknown>)[key])
  return n
}

type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown

/**
 * A number whose shortest string form is not what the caller wrote (98765432109876543210,
 * 1.50, 1e3, -0, 1e400) becomes the text the caller wrote (Genesys stores strings anyway).
 * Node 24's reviver is given each value's source text.
 */
const keepNumberSource: Reviver = (_key, value, context) =>
  typeof value === 'number' && context.source !== undefined && String(value) !== context.source ? context.source : value

/**
 * Whether a number sits where bodies here can hold one: a top-level value, or a value of a
 * top-level map. Most bodies hold only strings and pay for one plain parse; one with a number
 * is parsed again with the reviver, which is slower. Deeper values are refused by validation.
 */
function holdsNumber (body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return typeof body === 'number'
  for (const value of Object.values(body)) {
    if (typeof value === 'number') return true
    if (typeof value === 'object' && value !== null && Object.values(value).some((v) => typeof v === 'number')) return true
  }
  return false
}
