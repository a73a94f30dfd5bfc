import { jsonPointer, type FieldError } from '../errors.ts'

/**
 * A walk over JSON text that JSON.parse has already accepted (or would, but for the bytes
 * being looked for), for what the parsed value no longer shows: which names an object held
 * twice, and which string a character offset falls in. Only the rare bodies that need it pay.
 */
const QUOTE = 0x22
const BACKSLASH = 0x5c
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d])
const ENDS_PRIMITIVE = new Set([...SPACE, 0x2c, 0x5d, 0x7d])

class Scanner {
  i = 0
  readonly text: string
  /** Called with each string's path and span, names and values alike; true stops the walk. */
  readonly onString: (path: readonly string[], start: number, end: number) => boolean
  readonly onDuplicate: (path: readonly string[]) => void
  constructor (
    text: string,
    onString: (path: readonly string[], start: number, end: number) => boolean = () => false,
    onDuplicate: (path: readonly string[]) => void = () => {}
  ) {
    this.text = text
    this.onString = onString
    this.onDuplicate = onDuplicate
  }

  /** False once onString asked to stop. */
  value (path: string[]): boolean {
    this.space()
    const c = this.text[this.i]
    if (c === '{') return this.object(path)
    if (c === '[') return this.array(path)
    if (c === '"') return !this.string(path)[1]
    while (this.i < this.text.length && !ENDS_PRIMITIVE.has(this.text.charCodeAt(this.i))) this.i++
    return true
  }

  object (path: string[]): boolean {
    this.i++
    const seen = new Set<string>()
    for (;;) {
      this.space()
      if (this.text[this.i] === '}') break
      if (this.text[this.i] === ',') this.i++
      this.space()
      const [literal, stop] = this.string(path)
      if (stop) return false
      const name = JSON.parse(literal) as string
      if (seen.has(name)) this.onDuplicate([...path, name])
      seen.add(name)
      this.space()
      this.i++ // the colon
      if (!this.value([...path, name])) return false
      this.space()
    }
    this.i++
    return true
  }

  array (path: string[]): boolean {
    this.i++
    for (let n = 0; ; n++) {
      this.space()
      if (this.text[this.i] === ']') break
      if (this.text[this.i] === ',') this.i++
      if (!this.value([...path, String(n)])) return false
      this.space()
    }
    this.i++
    return true
  }

  /** Reads one string literal; answers its text and whether onString asked to stop. */
  string (path: string[]): [string, boolean] {
    const start = this.i++
    for (let c = this.text.charCodeAt(this.i); c !== QUOTE && this.i < this.text.length; c = this.text.charCodeAt(this.i)) this.i += c === BACKSLASH ? 2 : 1
    this.i++
    return [this.text.slice(start, this.i), this.onString(path, start, this.i)]
  }

  /** Skips whitespace; text that ends where JSON cannot is not walked further. */
  space (): void {
    while (this.i < this.text.length && SPACE.has(this.text.charCodeAt(this.i))) this.i++
    if (this.i >= this.text.length) throw new SyntaxError('JSON text ends early')
  }
}

/** Every name that appears twice in its object, at any depth, as an error at its path. */
export function duplicateNames (text: string): FieldError[] {
  const errors: FieldError[] = []
  new Scanner(text, undefined, (path) => {
    errors.push({ in: 'body', path: jsonPointer(path), message: 'appears more than once in its object; JSON names must be unique (else one value would be dropped)' })
  }).value([])
  return errors
}

/** The path of the string (a value's, or the object a name is in) holding character `offset`; undefined outside any. */
export function pathAt (text: string, offset: number): string[] | undefined {
  let found: string[] | undefined
  try {
    new Scanner(text, (path, start, end) => {
      if (offset >= start && offset < end) found = [...path]
      return found !== undefined
    }).value([])
  } catch {
    // The text is not JSON around the bad bytes: no path to name but the body's.
  }
  return found
}
