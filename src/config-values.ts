/**
 * How one environment variable's text becomes a value, or a problem naming what is wrong with it.
 * What the variables are, and how they combine, is config.ts.
 */
import { z } from 'zod'
import type { ApiKey } from './domain.ts'

// Empty strings count as unset: `FOO=` in a compose file or .env means "no value".
export const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional())
export const wholeNumber = (min: number, max: number) => {
  const range = `must be a whole number from ${min} to ${max}`
  return optional(z.coerce.number({ error: range }).int(range).min(min, range).max(max, range))
}
export const int = (min: number, max: number, fallback: number) => wholeNumber(min, max).transform((v) => v ?? fallback)
export const httpUrl = optional(
  z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''))
)

export const apiKeys = optional(z.string()).transform((raw, ctx): ApiKey[] => {
  if (raw === undefined) return []
  const keys: ApiKey[] = []
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean)
  if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'is set but holds no name:key pair' })
  for (const [i, entry] of entries.entries()) {
    const [name, key, priority = 'live', ...rest] = entry.split(':')
    if (!name || !key || rest.length > 0 || (priority !== 'live' && priority !== 'bulk')) {
      // What was given, up to the first colon; the rest may be a key and is never echoed. An entry
      // without a colon may be all key (a name forgotten), so it is described, not shown.
      const given = entry.includes(':') ? `"${name}:…"` : `${i + 1} (${entry.length} characters, no ":"; not shown, as it may be a key)`
      ctx.addIssue({ code: 'custom', message: `entry ${given} must be name:key or name:key:live or name:key:bulk (no part empty)` })
      continue
    }
    if (keys.some((k) => k.name === name)) ctx.addIssue({ code: 'custom', message: `name "${name}" appears twice` })
    // Two names for one key would make the caller's name (its logs, its signing secret) a matter of order.
    const same = keys.find((k) => k.key === key)
    if (same !== undefined) ctx.addIssue({ code: 'custom', message: `"${name}" has the same key as "${same.name}"; give each name its own key` })
    keys.push({ name, key, priority })
  }
  return keys
})
