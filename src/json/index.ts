/**
 * Strict JSON: no value is changed on its way through. Its concepts:
 * 1. **The parser** (parse.ts): text that could only be read by changing it is refused, each
 *    place named by JSON Pointer; a number doubles cannot carry exactly is kept as written.
 * 2. **The scan** (scan.ts): what the parsed value no longer shows (a name twice in one object,
 *    which string an offset falls in), for the rare bodies that need it.
 */
export { invalid, parseJson } from './parse.ts'
