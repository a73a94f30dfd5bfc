/**
 * RFC 7240: does the request carry the `respond-async` preference? Preferences are comma-separated,
 * each `token[=value][;param]`, names case-insensitive, and the header may be sent more than once.
 */
export function prefersAsync (header: string | string[] | undefined): boolean {
  if (header === undefined) return false
  const all = Array.isArray(header) ? header.join(',') : header
  return all.split(',').some((p) => p.split(/[;=]/, 1)[0]!.trim().toLowerCase() === 'respond-async')
}
