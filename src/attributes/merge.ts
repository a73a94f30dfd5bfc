import type { Attributes } from '../domain.ts'

/**
 * The full map to write: what the participant holds now, overlaid with the changes. Keys the
 * changes do not mention are kept, so writing the result is correct whether Genesys merges or
 * replaces on PATCH.
 */
export function merge (current: Attributes | undefined, changes: Attributes): Attributes {
  return Object.assign(Object.create(null) as Attributes, current, changes)
}
