/**
 * The words every room shares, defined once (docs/architecture.md, "Rooms"): what a write is
 * about and who asks. Types and one list only; no room's behaviour lives here, so any room may
 * import it and it imports none.
 *
 * - Attributes: a participant's custom attributes as Genesys holds them, strings only.
 * - Target: which participant a write is for.
 * - Priority: how urgent a caller is.
 * - Conversation: the part of a Genesys conversation the pipeline reads.
 * - ApiKey and its Scope: a caller, and what it may do.
 */

export type Attributes = Record<string, string>

/**
 * Which participant: a known id, or the one found in the conversation by purpose. `exact`: write
 * the changes as they are, without reading and merging first, whatever GENESYS_WRITE_MODE says
 * (the doctor's probe, which asks Genesys itself whether it merges); never coalesced with others.
 */
export type Target = { participantId: string; exact?: true } | { purposes: readonly string[] }

/** A target's key: a participant's id, or the purposes that find one. */
export function targetKey (target: Target): string {
  if ('participantId' in target) return target.exact ? `exact:${target.participantId}` : target.participantId
  return `purpose:${target.purposes.join('|')}`
}

/** live: flows waiting on the answer, served first. bulk: syncs that can wait. */
export type Priority = 'live' | 'bulk'

/** Only what the write path reads; `endTime` is set once the conversation has ended. */
export interface Conversation {
  id: string
  endTime?: string | undefined
  participants: Array<{ id: string; purpose: string; attributes?: Attributes | undefined }>
}

/**
 * What a key may do: write: synchronous writes (dry runs included); async: writes with
 * `Prefer: respond-async` and reading their state at /updates; read: GET …/data; console: signing
 * in to /console.
 */
export const OPERATIONS = ['write', 'read', 'async', 'console'] as const
export type Operation = (typeof OPERATIONS)[number]

/** Which operations, and which attribute names by glob patterns (src/access/scope.ts). */
export interface Scope {
  may: readonly Operation[]
  attributes: readonly string[]
}

export interface ApiKey {
  name: string
  key?: string
  /** API_KEYS_FILE only (src/access/keys-file.ts): the key's SHA-256 (hex; the file may hold only that), and what the key may do. */
  keySha256?: string
  scope?: Scope
  priority: Priority
  /** When set, this caller's requests must carry an HMAC-SHA256 signature made with it; a whsec_ one also takes Standard Webhooks. */
  signingSecret?: string
  /** API_KEYS_FILE's asyncBacklog: this key's share of ASYNC_MAX_BACKLOG, instead of ASYNC_MAX_BACKLOG_PER_KEY. */
  asyncBacklog?: number
  /** API_KEYS_FILE's callbackUrl and callbackSecret (a whsec_ secret): where this key's asynchronous outcomes are POSTed, signed. */
  callback?: { url: string; secret: string }
}
